package addons

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

const (
	controllerImage    = "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1"
	metricsServerImage = "registry.k8s.io/metrics-server/metrics-server:v0.8.0@sha256:89258156d0e9af60403eafd44da9676fd66f600c7934d468ccc17e42b199aee2"
)

func find(t *testing.T, set kube.Set, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range set.Objects {
		if u.GetKind() == kind && u.GetNamespace() == namespace && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("set %s has no %s %s/%s", set.Name, kind, namespace, name)
	return nil
}

func container(t *testing.T, u *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	require.NoError(t, err)
	for _, c := range containers {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("%s has no container %s", u.GetName(), name)
	return nil
}

// build builds a component the way the pipeline does, with the ingress node of a kind cluster.
func build(t *testing.T, c component.Component, images transform.ImageMap) kube.Set {
	t.Helper()
	set, err := c.Build(component.Params{Images: images, IngressNode: map[string]string{"ingress-ready": "true"}})
	require.NoError(t, err)
	return set
}

func gateNames(set kube.Set) []string {
	var names []string
	for _, g := range set.Gates {
		names = append(names, g.Name)
	}
	return names
}

func TestIngressNginxRunsOnTheMappedNodeWithHostPorts(t *testing.T) {
	t.Parallel()
	set := build(t, IngressNginx(), nil)
	assert.Equal(t, "ingress-nginx", set.Name)

	ctrl := find(t, set, "Deployment", "ingress-nginx", "ingress-nginx-controller")
	selector, _, err := unstructured.NestedStringMap(ctrl.Object, "spec", "template", "spec", "nodeSelector")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ingress-ready": "true", "kubernetes.io/os": "linux"}, selector)

	tolerations, _, err := unstructured.NestedSlice(ctrl.Object, "spec", "template", "spec", "tolerations")
	require.NoError(t, err)
	assert.Contains(t, tolerations, map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"})

	c := container(t, ctrl, "controller")
	assert.Equal(t, controllerImage, c["image"])
	hostPorts := map[int64]int64{}
	ports, _, err := unstructured.NestedSlice(c, "ports")
	require.NoError(t, err)
	for _, p := range ports {
		m := p.(map[string]any)
		if hp, ok := m["hostPort"].(int64); ok {
			hostPorts[m["containerPort"].(int64)] = hp
		}
	}
	assert.Equal(t, map[int64]int64{80: 80, 443: 443}, hostPorts)
	assert.Contains(t, c["args"], "--publish-status-address=localhost")
	assert.Contains(t, c["args"], "--validating-webhook=:8443")
}

func TestIngressNginxClassWebhookAndGates(t *testing.T) {
	t.Parallel()
	set := build(t, IngressNginx(), nil)

	class := find(t, set, "IngressClass", "", "nginx")
	controller, _, _ := unstructured.NestedString(class.Object, "spec", "controller")
	assert.Equal(t, "k8s.io/ingress-nginx", controller)

	vwc := find(t, set, "ValidatingWebhookConfiguration", "", "ingress-nginx-admission")
	webhooks, _, err := unstructured.NestedSlice(vwc.Object, "webhooks")
	require.NoError(t, err)
	require.Len(t, webhooks, 1)
	svc, _, _ := unstructured.NestedString(webhooks[0].(map[string]any), "clientConfig", "service", "name")
	assert.Equal(t, "ingress-nginx-controller-admission", svc)
	find(t, set, "Service", "ingress-nginx", "ingress-nginx-controller-admission")

	assert.Equal(t, []string{kube.WebhookServing("ingress-nginx-admission").Name}, gateNames(set))
}

func TestIngressNginxWebhookCertificateIsKindstacksNotAJobs(t *testing.T) {
	t.Parallel()
	c := IngressNginx()
	set := build(t, c, nil)
	assert.Nil(t, set.Skip, "every ingress-nginx object is waited on")
	for _, o := range set.Objects {
		assert.NotEqual(t, "Job", o.GetKind(), "no certgen Job: kindstack makes the certificate")
	}
	require.NotNil(t, c.WebhookCert)
	assert.Contains(t, c.WebhookCert.Hosts, "ingress-nginx-controller-admission.ingress-nginx.svc", "the name the API server calls")

	// The Secret the controller mounts is the one filled, and the webhook trusts its CA.
	dep := find(t, set, "Deployment", "ingress-nginx", "ingress-nginx-controller")
	vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	require.Len(t, vols, 1)
	mounted, _, _ := unstructured.NestedString(vols[0].(map[string]any), "secret", "secretName")
	assert.Equal(t, c.WebhookCert.Secret, mounted)
	filled, err := c.WebhookCert.Fill(set.Objects, map[string][]byte{"ca": []byte("CA"), "cert": []byte("C"), "key": []byte("K")})
	require.NoError(t, err)
	secret := find(t, kube.Set{Objects: filled}, "Secret", "ingress-nginx", mounted)
	data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	assert.Equal(t, map[string]string{"ca": "Q0E=", "cert": "Qw==", "key": "Sw=="}, data)
	vwc := find(t, kube.Set{Objects: filled}, "ValidatingWebhookConfiguration", "", c.WebhookCert.Webhook)
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	bundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
	assert.Equal(t, "Q0E=", bundle)
	_, found, _ := unstructured.NestedFieldNoCopy(find(t, set, "Secret", "ingress-nginx", mounted).Object, "data")
	assert.False(t, found, "Fill does not change the built objects")
}

func TestMetricsServerTrustsKindKubeletsAndHasGates(t *testing.T) {
	t.Parallel()
	set := build(t, MetricsServer(), nil)
	assert.Equal(t, "metrics-server", set.Name)

	dep := find(t, set, "Deployment", "kube-system", "metrics-server")
	c := container(t, dep, "metrics-server")
	assert.Equal(t, metricsServerImage, c["image"])
	args, _, err := unstructured.NestedStringSlice(c, "args")
	require.NoError(t, err)
	count := 0
	for _, a := range args {
		if a == "--kubelet-insecure-tls" {
			count++
		}
	}
	assert.Equal(t, 1, count, "args: %v", args)

	api := find(t, set, "APIService", "", "v1beta1.metrics.k8s.io")
	svc, _, _ := unstructured.NestedString(api.Object, "spec", "service", "name")
	assert.Equal(t, "metrics-server", svc)

	assert.Equal(t, []string{kube.APIServiceAvailable("v1beta1.metrics.k8s.io").Name, "node metrics served"}, gateNames(set))
}

func TestImages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		images  transform.ImageMap
		want    []string
		wantErr string
	}{
		{
			name: "pinned upstream images",
			want: []string{controllerImage, metricsServerImage}, // sorted
		},
		{
			name: "overrides by name and tag, with or without digest",
			images: transform.ImageMap{
				"registry.k8s.io/ingress-nginx/controller:v1.15.1": "mirror.local/controller:v1.15.1",
				metricsServerImage: "localhost/metrics-server:dev",
			},
			want: []string{"localhost/metrics-server:dev", "mirror.local/controller:v1.15.1"},
		},
		{
			name:    "an invalid map is an error",
			images:  transform.ImageMap{"registry.k8s.io/ingress-nginx/controller:v1.15.1": ""},
			wantErr: "empty replacement",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			var errs []error
			for _, c := range []component.Component{IngressNginx(), MetricsServer()} {
				images, err := c.Images(component.Params{Images: tt.images})
				errs = append(errs, err)
				got = append(got, images...)
			}
			err := errors.Join(errs...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			sort.Strings(got)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestOverriddenImagesAreNotPulledAgain(t *testing.T) {
	t.Parallel()
	set := build(t, MetricsServer(), transform.ImageMap{
		"registry.k8s.io/metrics-server/metrics-server:v0.8.0": "localhost/metrics-server:dev",
	})
	c := container(t, find(t, set, "Deployment", "kube-system", "metrics-server"), "metrics-server")
	assert.Equal(t, "localhost/metrics-server:dev", c["image"])
	assert.Equal(t, "IfNotPresent", c["imagePullPolicy"])
}

func TestNodeMetricsServed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		wantReady  bool
		wantReason string
		// wantHopeless: the state ends the wait once it lasts kube.GraceAnswered.
		wantHopeless bool
	}{
		{
			name:      "every node listed",
			status:    http.StatusOK,
			body:      `{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[{"metadata":{"name":"kindstack-control-plane"},"usage":{"cpu":"100m","memory":"1Gi"}},{"metadata":{"name":"kindstack-worker"},"usage":{"cpu":"10m","memory":"100Mi"}},{"metadata":{"name":"kindstack-worker2"},"usage":{"cpu":"10m","memory":"100Mi"}}]}`,
			wantReady: true,
		},
		{
			name:       "a worker not scraped yet",
			status:     http.StatusOK,
			body:       `{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[{"metadata":{"name":"kindstack-control-plane"},"usage":{"cpu":"100m","memory":"1Gi"}},{"metadata":{"name":"kindstack-worker"},"usage":{"cpu":"10m","memory":"100Mi"}}]}`,
			wantReason: "the metrics API lists 2 of 3 nodes; not yet kindstack-worker2: metrics-server has not scraped their kubelets",
		},
		{
			name:       "no node scraped yet",
			status:     http.StatusOK,
			body:       `{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[]}`,
			wantReason: "lists no node yet",
		},
		{
			name:       "API not served",
			status:     http.StatusServiceUnavailable,
			body:       `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}`,
			wantReason: "GET /apis/metrics.k8s.io/v1beta1/nodes: the server is currently unable to handle the request",
		},
		{
			// Podman on the test bed: the APIService Available, metrics-server serving, and the
			// apiserver's answer for the metrics API a 404.
			name:         "the metrics API not found",
			status:       http.StatusNotFound,
			body:         `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","code":404}`,
			wantReason:   "GET /apis/metrics.k8s.io/v1beta1/nodes: the server could not find the requested resource (404): the apiserver does not reach the metrics API",
			wantHopeless: true,
		},
		{
			name:       "garbage answer",
			status:     http.StatusOK,
			body:       `<html>`,
			wantReason: "unreadable answer",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/nodes" {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"kindstack-control-plane"}},{"metadata":{"name":"kindstack-worker"}},{"metadata":{"name":"kindstack-worker2"}}]}`))
					return
				}
				if r.URL.Path != nodeMetricsPath {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, err := kube.NewClientFromConfig(&rest.Config{Host: srv.URL})
			require.NoError(t, err)

			res, err := NodeMetricsServed().Check(context.Background(), c)
			require.NoError(t, err)
			assert.Equal(t, tt.wantReady, res.Ready)
			assert.Contains(t, res.Reason, tt.wantReason)
			if tt.wantHopeless {
				assert.Equal(t, kube.GraceAnswered, res.HopelessAfter)
			} else {
				assert.Zero(t, res.HopelessAfter, "it may pass any time")
			}
		})
	}
}

func TestTraefikRunsNonRootOnTheMappedNodeWithHostPortsAndGatewayPorts(t *testing.T) {
	t.Parallel()
	set, err := Traefik().Build(component.Params{IngressNode: map[string]string{"ingress-ready": "true"}, Options: &TraefikOptions{GatewayPorts: []int{8080, 8443}}})
	require.NoError(t, err)
	assert.Equal(t, "traefik", set.Name)
	assert.Equal(t, []string{"GatewayClass/traefik", "Gateway/kindstack-gateway/kindstack"}, gateNames(set))

	d := find(t, set, "Deployment", "traefik", "traefik")
	selector, _, err := unstructured.NestedStringMap(d.Object, "spec", "template", "spec", "nodeSelector")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ingress-ready": "true"}, selector)
	pod, _, err := unstructured.NestedMap(d.Object, "spec", "template", "spec", "securityContext")
	require.NoError(t, err)
	assert.Equal(t, true, pod["runAsNonRoot"])
	assert.Equal(t, []any{map[string]any{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}}, pod["sysctls"],
		"binding 80/443 without root or capabilities")

	c := container(t, d, "traefik")
	assert.Regexp(t, `^docker.io/library/traefik:v3\.7\.13@sha256:[0-9a-f]{64}$`, c["image"])
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	for _, want := range []string{"--providers.kubernetesingressnginx=true", "--providers.kubernetesgateway=true",
		"--entrypoints.web.address=:80", "--entrypoints.p8080.address=:8080", "--entrypoints.p8443.address=:8443",
		"--global.sendanonymoususage=false"} {
		assert.Contains(t, args, want)
	}
	ports, _, _ := unstructured.NestedSlice(c, "ports")
	hostPorts := map[int64]int64{}
	for _, p := range ports {
		m := p.(map[string]any)
		if hp, ok := m["hostPort"].(int64); ok {
			hostPorts[m["containerPort"].(int64)] = hp
		}
	}
	assert.Equal(t, map[int64]int64{80: 80, 443: 443, 8080: 8080, 8443: 8443}, hostPorts)

	class := find(t, set, "IngressClass", "", "nginx")
	controller, _, _ := unstructured.NestedString(class.Object, "spec", "controller")
	assert.Equal(t, "k8s.io/ingress-nginx", controller, "the example's Ingress names class nginx; Traefik serves that controller's classes")
	gw := find(t, set, "Gateway", GatewayNamespace, GatewayName)
	listeners, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	require.Len(t, listeners, 1)
	assert.Equal(t, int64(80), listeners[0].(map[string]any)["port"])
}

func TestTraefikTakesTheGatewayAPICRDsFromTheirModule(t *testing.T) {
	t.Parallel()
	var asked []component.Remote
	fetch := func(r component.Remote) ([]byte, error) {
		asked = append(asked, r)
		return []byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gateways.gateway.networking.k8s.io\n"), nil
	}
	set, err := Traefik().Build(component.Params{Fetch: fetch})
	require.NoError(t, err)
	assert.Equal(t, []component.Remote{GatewayAPIStandard}, asked)
	assert.Equal(t, "CustomResourceDefinition", set.Objects[0].GetKind(), "remote manifests come first")
	assert.Equal(t, "traefik", set.Objects[0].GetLabels()[kube.ComponentLabel])

	_, err = Traefik().Build(component.Params{Fetch: func(component.Remote) ([]byte, error) {
		return []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: y}\nspec: {containers: [{name: c, image: evil}]}\n"), nil
	}})
	assert.ErrorContains(t, err, "remote manifest gateway-api-v1.6.1-standard runs containers")

	_, err = Traefik().Build(component.Params{Fetch: func(component.Remote) ([]byte, error) { return nil, errors.New("offline") }})
	assert.ErrorContains(t, err, "traefik: offline")
}
