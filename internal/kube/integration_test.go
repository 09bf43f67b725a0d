//go:build integration

package kube_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kindstack/kindstack/e2e/testbed/testenv"
	"github.com/kindstack/kindstack/internal/kube"
)

// One real control plane (etcd + kube-apiserver + kube-controller-manager + kube-scheduler) serves
// every subtest; each subtest works in its own namespace. There is no kubelet: the node "sim-node"
// is SIMULATED by testenv.StartNode, which marks every pod bound to it Running and Ready through
// the API. Pods that must not become Ready select a label no node has.
func TestEngine(t *testing.T) {
	cp := testenv.New(t)
	c, err := kube.NewClient(cp.Kubeconfig)
	require.NoError(t, err)
	require.NoError(t, testenv.StartNode(t.Context(), c.Kubernetes(), testenv.NodeOptions{
		Name: "sim-node", Labels: map[string]string{"ingress-ready": "true"},
	}))

	// Prune waits for a Namespace to be gone, which the namespace controller cannot finish while
	// an aggregated API is unavailable (as the APIService test below leaves one for a while): it
	// runs first, alone.
	t.Run("prune deletes what the inventory lists and kindstack manages, nothing else", func(t *testing.T) {
		testInventoryAndPrune(t, c)
	})
	t.Run("parallel", func(t *testing.T) {
		t.Run("staged apply creates, then reports unchanged, then configured", func(t *testing.T) {
			t.Parallel()
			testStagedApply(t, c)
		})
		t.Run("an object another manager made is refused, named and left alone unless taken over", func(t *testing.T) {
			t.Parallel()
			testOwnership(t, c)
		})
		t.Run("a Deployment whose pods are made Ready passes the wait", func(t *testing.T) {
			t.Parallel()
			testReadyDeployment(t, c)
		})
		t.Run("an unschedulable Deployment fails the wait naming it and the scheduler's reason", func(t *testing.T) {
			t.Parallel()
			testUnschedulable(t, c)
		})
		t.Run("cancelling the context stops the wait promptly", func(t *testing.T) {
			t.Parallel()
			testCancel(t, c)
		})
		t.Run("an APIService pointing at a missing service fails with its name", func(t *testing.T) {
			t.Parallel()
			testAPIServiceMissing(t, c)
		})
		t.Run("a malformed object returns the apiserver's validation error naming it", func(t *testing.T) {
			t.Parallel()
			testMalformed(t, c)
		})
		t.Run("WebhookServing names the missing caBundle and endpoints", func(t *testing.T) {
			t.Parallel()
			testWebhookServing(t, c)
		})
		t.Run("RetryWebhookErrors retries until the webhook serves", func(t *testing.T) {
			t.Parallel()
			testRetryWebhook(t, c)
		})
		t.Run("a CRD and its custom resource apply in one call", func(t *testing.T) {
			t.Parallel()
			testCRD(t, c)
		})
		t.Run("HPAReportingMetrics says why metrics are missing", func(t *testing.T) {
			t.Parallel()
			testHPAGate(t, c)
		})
		t.Run("a Job whose pod template changes is replaced, not refused", func(t *testing.T) {
			t.Parallel()
			testJobReplaced(t, c)
		})
		t.Run("several sets install concurrently", func(t *testing.T) {
			t.Parallel()
			testConcurrentInstalls(t, c)
		})
	})
}

func testInventoryAndPrune(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	managed := `{app.kubernetes.io/managed-by: kindstack, kindstack.dev/component: pruned}`
	objs := decode(t, "prune", `
apiVersion: v1
kind: Namespace
metadata: {name: prune-me, labels: `+managed+`}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ours, namespace: prune-me, labels: `+managed+`}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: prune-me, labels: `+managed+`}
spec: {controller: example.com/prune}
---
apiVersion: v1
kind: Namespace
metadata: {name: prune-keep}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: someone-elses, namespace: prune-keep}
`)
	_, err := c.Apply(ctx, objs, kube.ApplyOptions{})
	require.NoError(t, err)
	ours, notOurs := objs[:3], objs[3:]
	require.NoError(t, c.RecordInventory(ctx, "pruned", kube.RefsOf(objs)))
	require.NoError(t, c.RecordInventory(ctx, "kept", kube.RefsOf(ours[2:])))

	inv, err := c.ReadInventory(ctx)
	require.NoError(t, err)
	assert.Equal(t, kube.RefsOf(objs), inv["pruned"], "the inventory reads back as recorded")
	assert.Equal(t, kube.RefsOf(ours[2:]), inv["kept"])

	// Everything of "pruned" is unwanted, except the IngressClass that "kept" still wants.
	unwanted := inv.Unwanted(kube.RefsOf(ours[2:]))
	res, err := c.Prune(ctx, unwanted)
	require.NoError(t, err)
	assert.ElementsMatch(t, kube.RefsOf(ours[:2]), res.Deleted)
	assert.ElementsMatch(t, kube.RefsOf(notOurs), res.LeftAlone, "objects without kindstack's label are never touched")

	cs := c.Kubernetes()
	_, err = cs.CoreV1().Namespaces().Get(ctx, "prune-me", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the namespace is gone when Prune returns: %v", err)
	_, err = cs.CoreV1().ConfigMaps("prune-keep").Get(ctx, "someone-elses", metav1.GetOptions{})
	assert.NoError(t, err, "an object kindstack did not label is left alone")
	_, err = cs.NetworkingV1().IngressClasses().Get(ctx, "prune-me", metav1.GetOptions{})
	assert.NoError(t, err, "an object still wanted is kept")

	again, err := c.Prune(ctx, unwanted)
	require.NoError(t, err, "pruning twice is fine")
	assert.ElementsMatch(t, kube.RefsOf(ours[:2]), again.Absent)

	require.NoError(t, c.ForgetInventory(ctx, "pruned"))
	require.NoError(t, c.ForgetInventory(ctx, "pruned"), "forgetting twice is fine")
	inv, err = c.ReadInventory(ctx)
	require.NoError(t, err)
	assert.NotContains(t, inv, "pruned")
	assert.Contains(t, inv, "kept")
}

func decode(t *testing.T, name, yaml string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := kube.Decode(name, []byte(yaml))
	require.NoError(t, err)
	return objs
}

// app returns a Namespace, Deployment, Service, IngressClass, Ingress and HPA — deliberately in
// the wrong order (Namespace last), so only staging makes the apply succeed.
func app(ns string, replicas int, nodeSelector string) string {
	return fmt.Sprintf(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: %[1]s}
spec:
  ingressClassName: %[1]s
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: %[1]s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: %[2]d
  progressDeadlineSeconds: 600
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {%[3]s}
      containers:
      - name: web
        image: example.com/web:dev
        ports: [{containerPort: 8080}]
        resources: {requests: {cpu: 10m}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: %[1]s}
spec: {controller: kindstack.dev/test}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
`, ns, replicas, nodeSelector)
}

func testStagedApply(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	objs := decode(t, "app.yaml", app("staged", 1, ""))

	created, err := c.Apply(ctx, objs, kube.ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, "6 created", created.String())
	require.Len(t, created, 6)
	assert.Equal(t, "Namespace/staged", created[0].Ref.String(), "Namespaces are applied first")
	assert.Equal(t, "IngressClass/staged", created[1].Ref.String(), "*Class kinds come before the rest")

	again, err := c.Apply(ctx, objs, kube.ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, "6 unchanged", again.String(), "a second apply of the same objects changes nothing")
	assert.False(t, again.Changed())

	scaled := decode(t, "app.yaml", app("staged", 2, ""))
	dry, err := c.Apply(ctx, scaled, kube.ApplyOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, "1 configured, 5 unchanged", dry.String(), "a dry run reports the change")
	real, err := c.Apply(ctx, scaled, kube.ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1 configured, 5 unchanged", real.String(), "the dry run persisted nothing")
	for _, ch := range real {
		if ch.Action == kube.Configured {
			assert.Equal(t, "Deployment/staged/web", ch.Ref.String())
		}
	}
}

func testReadyDeployment(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	set := kube.Set{Name: "web", Objects: decode(t, "app.yaml", app("ready", 2, ""))}
	start := time.Now()
	changes, err := c.Install(ctx, set, kube.ApplyOptions{})
	require.NoError(t, err, "pods on the simulated node become Ready, so the Deployment becomes Available")
	assert.Equal(t, 6, changes.Count(kube.Created))
	t.Logf("install with 2 simulated-ready replicas took %s", time.Since(start))

	for _, st := range c.Status(ctx, set) {
		assert.True(t, st.Ready, "%s: %s", st.Name, st.Reason)
	}
}

func testUnschedulable(t *testing.T, c *kube.Client) {
	const deadline = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	set := kube.Set{Name: "stuck", Objects: decode(t, "app.yaml", app("unschedulable", 1, "kindstack.dev/no-such-node: 'true'"))}
	start := time.Now()
	_, err := c.Install(ctx, set, kube.ApplyOptions{})
	elapsed := time.Since(start)
	require.Error(t, err)
	msg := err.Error()
	t.Logf("the user sees:\n%s", msg)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, elapsed, deadline+diagnoseBudget, "the wait ends at the deadline")
	assert.Contains(t, msg, "timed out")
	assert.Contains(t, msg, "Deployment/unschedulable/web not ready")
	assert.Contains(t, msg, "Unschedulable")
	assert.Contains(t, msg, "didn't match Pod's node affinity/selector", "the scheduler's own message")
	assert.NotContains(t, msg, "Service/unschedulable/web not ready", "ready objects are not blamed")
}

// diagnoseBudget is how long a wait may take past its context to explain what is not ready.
const diagnoseBudget = 3 * time.Second

func testCancel(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithCancel(t.Context())
	set := kube.Set{Name: "cancelled", Objects: decode(t, "app.yaml", app("cancel", 1, "kindstack.dev/no-such-node: 'true'"))}
	_, err := c.Apply(ctx, set.Objects, kube.ApplyOptions{})
	require.NoError(t, err)

	time.AfterFunc(1500*time.Millisecond, cancel)
	start := time.Now()
	err = c.Wait(ctx, set)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, elapsed, 1500*time.Millisecond+diagnoseBudget, "the wait stops promptly after cancellation")
	assert.Contains(t, err.Error(), "cancelled after")
	assert.Contains(t, err.Error(), "Deployment/cancel/web not ready", "the error says what was still pending")
}

func testAPIServiceMissing(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	set := kube.Set{
		Name: "aggregated",
		Objects: decode(t, "apiservice.yaml", `
apiVersion: v1
kind: Namespace
metadata: {name: apisvc}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.missing.kindstack.dev}
spec:
  group: missing.kindstack.dev
  version: v1alpha1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {namespace: apisvc, name: no-such-service}
`),
		Gates: []kube.Gate{kube.APIServiceAvailable("v1alpha1.missing.kindstack.dev")},
	}
	t.Cleanup(func() {
		// An unavailable aggregated API blocks every namespace deletion in the cluster.
		apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
		_ = c.Dynamic().Resource(apiServices).Delete(context.Background(), "v1alpha1.missing.kindstack.dev", metav1.DeleteOptions{})
	})
	_, err := c.Install(ctx, set, kube.ApplyOptions{})
	require.Error(t, err)
	t.Logf("the user sees:\n%s", err)
	assert.Contains(t, err.Error(), "APIService/v1alpha1.missing.kindstack.dev not ready: Available=False (ServiceNotFound)")
	assert.Contains(t, err.Error(), "no-such-service")
}

func testMalformed(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Apply(ctx, decode(t, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: malformed}\n"), kube.ApplyOptions{})
	require.NoError(t, err)

	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "container without image",
			yaml: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: malformed}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec: {containers: [{name: bad}]}
`,
			want: []string{"apply Deployment/malformed/bad", `Deployment.apps "bad" is invalid`, "spec.template.spec.containers[0].image: Required value"},
		},
		{
			name: "selector that does not match the template",
			yaml: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch, namespace: malformed}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: example.com/c:1}]}
`,
			want: []string{"apply Deployment/malformed/mismatch", "`selector` does not match template `labels`"},
		},
		{
			name: "namespaced object without namespace",
			yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: orphan}\n",
			want: []string{"apply ConfigMap/orphan", "ConfigMap is namespaced but metadata.namespace is not set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Apply(ctx, decode(t, "bad.yaml", tt.yaml), kube.ApplyOptions{RetryWebhookErrors: true})
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), 5*time.Second, "a validation error is not retried as a webhook error")
		})
	}
}

func testWebhookServing(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ca, err := testenv.NewServingCertificate()
	require.NoError(t, err)
	vwc := func(caBundle string) []*unstructured.Unstructured {
		return decode(t, "webhook.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: whserving}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: kindstack-test-serving}
webhooks:
- name: validate.kindstack.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig:
    service: {namespace: whserving, name: admission, port: 443}
    caBundle: %q
  rules:
  - {apiGroups: [kindstack.dev], apiVersions: [v1], operations: [CREATE], resources: [nothings]}
`, caBundle))
	}
	gate := kube.WebhookServing("kindstack-test-serving")
	check := func() kube.Result {
		res, err := gate.Check(ctx, c)
		require.NoError(t, err)
		return res
	}

	_, err = c.Apply(ctx, vwc(""), kube.ApplyOptions{})
	require.NoError(t, err)
	res := check()
	assert.False(t, res.Ready)
	assert.Contains(t, res.Reason, "webhook validate.kindstack.dev has no caBundle")
	assert.Contains(t, res.Reason, "service whserving/admission not found")

	_, err = c.Apply(ctx, append(vwc(base64.StdEncoding.EncodeToString(ca.CACert)), decode(t, "svc.yaml", `
apiVersion: v1
kind: Service
metadata: {name: admission, namespace: whserving}
spec: {ports: [{port: 443, targetPort: 8443}]}
`)...), kube.ApplyOptions{})
	require.NoError(t, err)
	res = check()
	assert.False(t, res.Ready)
	assert.NotContains(t, res.Reason, "caBundle")
	assert.Contains(t, res.Reason, "service whserving/admission has no ready endpoints")

	// The endpoint is data only: nothing calls it (failurePolicy Ignore, rules match no real kind).
	_, err = c.Kubernetes().DiscoveryV1().EndpointSlices("whserving").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "admission-1", Labels: map[string]string{discoveryv1.LabelServiceName: "admission"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.9.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](8443)}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	res = check()
	assert.True(t, res.Ready, res.Reason)
}

// webhookServer is an admission webhook the apiserver reaches at https://127.0.0.1:<port>/ — by
// URL, because a Service's endpoints may not be loopback. It allows everything and counts calls.
// It holds its port for the whole test (a port given back could be taken by another process), and
// until it is opened it drops every connection, so the apiserver sees the webhook unavailable.
type webhookServer struct {
	port  int
	open  atomic.Bool
	calls atomic.Int32
}

func newWebhookServer(t *testing.T, cert *testenv.ServingCertificate) *webhookServer {
	pair, err := tls.X509KeyPair(cert.Cert, cert.Key)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w := &webhookServer{port: l.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}},
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.calls.Add(1)
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
				http.Error(rw, "bad review", http.StatusBadRequest)
				return
			}
			review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
			review.Request = nil
			_ = json.NewEncoder(rw).Encode(&review)
		}),
	}
	srv.SetKeepAlivesEnabled(false) // closing the gate must take effect on the next call
	go func() { _ = srv.ServeTLS(gatedListener{Listener: l, open: &w.open}, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

// gatedListener closes every accepted connection while open is false.
type gatedListener struct {
	net.Listener
	open *atomic.Bool
}

func (g gatedListener) Accept() (net.Conn, error) {
	for {
		conn, err := g.Listener.Accept()
		if err != nil || g.open.Load() {
			return conn, err
		}
		_ = conn.Close()
	}
}

func testRetryWebhook(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cert, err := testenv.NewServingCertificate()
	require.NoError(t, err)
	wh := newWebhookServer(t, cert) // drops every connection until opened

	_, err = c.Apply(ctx, decode(t, "webhook.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: whretry}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: kindstack-test-retry}
webhooks:
- name: ingress.kindstack.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    url: https://127.0.0.1:%d/validate
    caBundle: %s
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: whretry}}
  rules:
  - {apiGroups: [networking.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [ingresses]}
`, wh.port, base64.StdEncoding.EncodeToString(cert.CACert))), kube.ApplyOptions{})
	require.NoError(t, err)

	ingress := func(name string) []*unstructured.Unstructured {
		return decode(t, "ingress.yaml", fmt.Sprintf(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, namespace: whretry}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
`, name))
	}
	// The apiserver picks the new webhook configuration up asynchronously: wait until it is
	// enforced, which also shows that without the retry policy the error comes back at once.
	var plainErr error
	require.Eventually(t, func() bool {
		_, plainErr = c.Apply(ctx, ingress("probe"), kube.ApplyOptions{})
		return plainErr != nil
	}, 20*time.Second, 200*time.Millisecond, "the webhook is never enforced")
	assert.True(t, kube.IsWebhookUnavailable(plainErr), "%v", plainErr)
	assert.Contains(t, plainErr.Error(), "failed calling webhook")

	const serveAfter = 3 * time.Second
	time.AfterFunc(serveAfter, func() { wh.open.Store(true) })
	start := time.Now()
	changes, err := c.Apply(ctx, ingress("web"), kube.ApplyOptions{RetryWebhookErrors: true})
	require.NoError(t, err, "the apply is retried until the webhook serves")
	assert.Equal(t, "1 created", changes.String())
	assert.GreaterOrEqual(t, time.Since(start), serveAfter, "it succeeded only once the webhook served")
	assert.Positive(t, wh.calls.Load(), "the webhook was really called")

	// Until ctx ends, and no further: a webhook that never serves fails with both causes.
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	wh.open.Store(false)
	_, err = c.Apply(short, ingress("late"), kube.ApplyOptions{RetryWebhookErrors: true})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "admission webhook still unavailable")
	assert.Contains(t, err.Error(), "failed calling webhook")
}

func testCRD(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	objs := decode(t, "crd.yaml", `
apiVersion: kindstack.dev/v1
kind: Widget
metadata: {name: w1, namespace: crds}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.kindstack.dev}
spec:
  group: kindstack.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: crds}
`)
	objs[1].SetLabels(map[string]string{kube.ManagedByLabel: kube.ManagedBy}) // the CRD is kindstack's, the Widget the user's
	set := kube.Set{Name: "widgets", Objects: objs}
	changes, err := c.Install(ctx, set, kube.ApplyOptions{})
	require.NoError(t, err, "the CRD is established and the new kind discovered before the Widget is applied")
	assert.Equal(t, "3 created", changes.String())
	again, err := c.Apply(ctx, objs, kube.ApplyOptions{})
	require.NoError(t, err)
	assert.Equal(t, "3 unchanged", again.String())

	// Pruning the CRD would delete the user's Widget with it: it is kept until the Widget goes.
	crd := kube.RefsOf(objs[1:2])
	res, err := c.Prune(ctx, crd)
	require.NoError(t, err)
	assert.Equal(t, crd, res.InUse)
	assert.Equal(t, "1 CRDs kept (objects of yours use them)", res.String())
	require.NoError(t, c.Dynamic().Resource(schema.GroupVersionResource{Group: "kindstack.dev", Version: "v1", Resource: "widgets"}).
		Namespace("crds").Delete(ctx, "w1", metav1.DeleteOptions{}))
	res, err = c.Prune(ctx, crd)
	require.NoError(t, err)
	assert.Equal(t, crd, res.Deleted, "with no Widget of the user's left, the CRD goes")
}

func testHPAGate(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	set := kube.Set{
		Name:    "hpa",
		Objects: decode(t, "app.yaml", app("hpa", 1, "")),
		Gates:   []kube.Gate{kube.HPAReportingMetrics("hpa", "web")},
	}
	_, err := c.Install(ctx, set, kube.ApplyOptions{})
	require.Error(t, err, "this control plane serves no metrics API")
	t.Logf("the user sees:\n%s", err)
	assert.Contains(t, err.Error(), "HorizontalPodAutoscaler/hpa/web metrics not ready: ScalingActive")
	assert.NotContains(t, err.Error(), "Deployment/hpa/web not ready", "the Deployment itself became ready")
}

func testConcurrentInstalls(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set := kube.Set{Name: fmt.Sprintf("addon-%d", i), Objects: decode(t, "app.yaml", app(fmt.Sprintf("concurrent-%d", i), 1, ""))}
			_, errs[i] = c.Install(ctx, set, kube.ApplyOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "set %d", i)
	}
}

// A new image override for a certificate Job changes its pod template, which the API refuses as
// immutable; the engine must replace the Job so `up` with a changed images map still works.
func testJobReplaced(t *testing.T, c *kube.Client) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	job := func(image string) []*unstructured.Unstructured {
		return decode(t, "job.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: jobs}
---
apiVersion: batch/v1
kind: Job
metadata: {name: certgen, namespace: jobs}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      nodeSelector: {no-such-node: "true"}
      containers: [{name: create, image: %s}]
`, image))
	}
	_, err := c.Apply(ctx, job("example.com/certgen:v1"), kube.ApplyOptions{})
	require.NoError(t, err)
	again, err := c.Apply(ctx, job("example.com/certgen:v1"), kube.ApplyOptions{})
	require.NoError(t, err)
	assert.False(t, again.Changed(), "the same Job applied twice is unchanged: %s", again)

	changes, err := c.Apply(ctx, job("mirror.example.com/certgen:v1"), kube.ApplyOptions{})
	require.NoError(t, err, "a changed pod template must replace the Job")
	assert.Equal(t, 1, changes.Count(kube.Configured), "%s", changes)
	live, err := c.Kubernetes().BatchV1().Jobs("jobs").Get(ctx, "certgen", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "mirror.example.com/certgen:v1", live.Spec.Template.Spec.Containers[0].Image)
}
