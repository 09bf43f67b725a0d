//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The local registry's names (addons.Registry): one per container engine.
const (
	registryContainer = "kindstack-registry"
	registryVolume    = "kindstack-registry"
	appName           = "kse2e-app"
	appPath           = "/kse2e-app"
)

// registryPort is the host port the scenarios give the registry: 5001 unless
// KINDSTACK_E2E_REGISTRY_PORT says otherwise (another program may hold 5001 on a developer's machine).
func registryPort(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("KINDSTACK_E2E_REGISTRY_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		require.NoError(t, err, "KINDSTACK_E2E_REGISTRY_PORT")
		return p
	}
	return 5001
}

// buildApp builds e2e/testdata/registryapp answering version into an image tagged ref, FROM
// scratch, with the test bed's toolchain and engine, as a developer's `docker build` would.
func buildApp(t *testing.T, w *world, ref, version string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", filepath.Join(dir, "app"), "./testdata/registryapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOOS=linux")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build registryapp: %s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app /app\nUSER 65532:65532\nENTRYPOINT [\"/app\"]\n"), 0o644))
	cmd := exec.Command(w.runtime, "build", "-q", "-t", ref, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "docker build %s: %s", ref, out)
}

// deployApp runs image as the Deployment and Service kse2e-app, routed from /kse2e-app by an
// Ingress of the example's class, and waits until it is available.
func deployApp(t *testing.T, cs kubernetes.Interface, image string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": appName}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways, // from the registry, every time
					Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	prefix := networkingv1.PathTypePrefix
	class := "nginx"
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: "default"},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: appPath, PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: appName, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}},
		}}}},
	}
	if have, err := cs.AppsV1().Deployments("default").Get(ctx, appName, metav1.GetOptions{}); err == nil {
		have.Spec.Template.Spec.Containers[0].Image = image
		_, err = cs.AppsV1().Deployments("default").Update(ctx, have, metav1.UpdateOptions{})
		require.NoError(t, err)
	} else {
		require.True(t, apierrors.IsNotFound(err), "%v", err)
		_, err = cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	var why string
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, appName, metav1.GetOptions{})
		if err != nil {
			why = err.Error()
			return false
		}
		pods, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + appName})
		for _, p := range pods.Items {
			for _, s := range p.Status.ContainerStatuses {
				if s.State.Waiting != nil {
					why = p.Name + ": " + s.State.Waiting.Reason + ": " + s.State.Waiting.Message
				}
			}
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == 1 && d.Status.AvailableReplicas == 1 && d.Status.Replicas == 1
	}, 2*time.Minute, 500*time.Millisecond, "deployment %s with %s never became available: %s", appName, image, func() string { return why }())
}

// appAnswers waits until the app answers want through the ingress.
func appAnswers(t *testing.T, w *world, want string) {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get(baseURL(w) + appPath)
		if err != nil {
			last = err.Error()
			return false
		}
		defer res.Body.Close()
		b := make([]byte, 256)
		n, _ := res.Body.Read(b)
		last = fmt.Sprintf("%d %s", res.StatusCode, b[:n])
		return res.StatusCode == http.StatusOK && strings.TrimSpace(string(b[:n])) == want
	}, time.Minute, 250*time.Millisecond, "GET %s never answered %q: %s", appPath, want, func() string { return last }())
}

// manifestDigest asks the registry's API for a tag's manifest, as a client would.
func manifestDigest(t *testing.T, port int, repo, tag string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("http://127.0.0.1:%d/v2/%s/manifests/%s", port, repo, tag), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err, "the registry answers on 127.0.0.1:%d", port)
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Docker-Content-Digest")
}

// registryState is what the engine says of the registry's container and volume.
func registryState(t *testing.T, w *world) (container, volume string) {
	t.Helper()
	out, err := exec.Command(w.runtime, "inspect", "-f", "{{.State.Status}}", registryContainer).CombinedOutput()
	if err == nil {
		container = strings.TrimSpace(string(out))
	}
	if exec.Command(w.runtime, "volume", "inspect", registryVolume).Run() == nil {
		volume = "present"
	}
	return container, volume
}

// testLocalRegistry: the developer's loop with kindstack's registry. `up --registry` runs the real
// distribution registry beside the node; an app built here and pushed to localhost:<port> runs
// from a Deployment whose image is localhost:<port>/…, answering through the ingress; a new build
// pushed and rolled out answers the new version (the loop's time is logged); the KEP-1755 ConfigMap
// says where the registry is, read with the real kubectl; status shows the registry; the registry's
// contents survive recreate and the pod pulls again; an up without the registry prunes its
// ConfigMap and keeps the registry and what it holds.
func testLocalRegistry(t *testing.T, w *world) {
	requireTestbed(t, "the registry image is the test bed's build")
	port := registryPort(t)
	portFlag := []string{"--registry", "--registry-port", strconv.Itoa(port)}
	// A registry a failed earlier run left (another port) would be another spec: start clean.
	r := w.run(t, time.Minute, w.config, "registry", "rm")
	require.Equal(t, 0, r.code, "%s", r)

	r, sum := w.up(t, "up", w.config, upTimeout, append(portFlag, "--example-route", "ingress")...)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	assert.Contains(t, r.stderr, "registry "+registryContainer+" created")
	assert.Contains(t, r.stderr, fmt.Sprintf("nodes pull localhost:%d from the local registry", port))
	container, volume := registryState(t, w)
	require.Equal(t, "running", container)
	require.Equal(t, "present", volume)

	// The loop: build, push, run, answer.
	ref := func(tag string) string { return fmt.Sprintf("localhost:%d/%s:%s", port, appName, tag) }
	start := time.Now()
	buildApp(t, w, ref("v1"), "v1")
	engine(t, w, "push", ref("v1"))
	cs := w.clientset(t)
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cs.NetworkingV1().Ingresses("default").Delete(ctx, appName, metav1.DeleteOptions{})
		_ = cs.CoreV1().Services("default").Delete(ctx, appName, metav1.DeleteOptions{})
		_ = cs.AppsV1().Deployments("default").Delete(ctx, appName, metav1.DeleteOptions{})
	})
	deployApp(t, cs, ref("v1"))
	appAnswers(t, w, "registryapp v1")
	t.Logf("measured: first build → push → pod runs it and answers through the ingress: %s", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	buildApp(t, w, ref("v2"), "v2")
	built := time.Since(start)
	engine(t, w, "push", ref("v2"))
	pushed := time.Since(start)
	deployApp(t, cs, ref("v2"))
	appAnswers(t, w, "registryapp v2")
	t.Logf("measured: dev loop (source changed → image built %s → pushed %s → the pod runs it and answers through the ingress): %s",
		built.Round(100*time.Millisecond), pushed.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))

	// KEP-1755, as Tilt or Skaffold read it.
	kubectl := scriptPaths(t, "tutorial.sh")["KUBECTL"]
	require.FileExists(t, kubectl, "the test bed's kubectl (setup.sh binaries)")
	get := exec.Command(kubectl, "--context", "kind-"+w.name, "get", "configmap", "local-registry-hosting", "-n", "kube-public",
		"-o", `jsonpath={.data.localRegistryHosting\.v1}`)
	get.Env = append(os.Environ(), "KUBECONFIG="+w.kubeconfig)
	out, err := get.CombinedOutput()
	require.NoError(t, err, "kubectl: %s", out)
	var hosting map[string]string
	require.NoError(t, yaml.Unmarshal(out, &hosting), "%s", out)
	assert.Equal(t, map[string]string{
		"host":                     fmt.Sprintf("localhost:%d", port),
		"hostFromContainerRuntime": fmt.Sprintf("localhost:%d", port),
		"hostFromClusterNetwork":   registryContainer + ":5000",
		"help":                     "https://github.com/kindstack/kindstack#local-registry",
	}, hosting)

	r = w.run(t, time.Minute, w.config, "status")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, fmt.Sprintf("registry %s: running at 127.0.0.1:%d", registryContainer, port))
	r = w.run(t, time.Minute, w.config, "images", "list", "--registry")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "kindstack.test/distribution:v3.1.2", "images list names the registry's image (the images map's)")
	r = w.run(t, time.Minute, w.config, "doctor", "--registry", "--registry-port", strconv.Itoa(port))
	assert.Contains(t, r.stdout, "held by kindstack's registry "+registryContainer)

	// A second up finds it running and changes nothing.
	r, sum = w.up(t, "up", w.config, upTimeout, append(portFlag, "--example-route", "ingress")...)
	require.Equal(t, 0, r.code, "%s", r)
	assert.NotContains(t, r.stderr, "registry "+registryContainer+" created")
	assert.Contains(t, r.stderr, "exists, unchanged")

	// Another port is another spec: said before anything changes.
	r = w.run(t, time.Minute, w.config, "up", "--registry", "--registry-port", strconv.Itoa(port+1))
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "registry "+registryContainer+" exists with a different spec")
	assert.Contains(t, r.stderr, "kindstack registry rm --keep-storage")

	// The registry's contents are the user's: recreate keeps them, and the new node pulls again.
	code, digest := manifestDigest(t, port, appName, "v2")
	require.Equal(t, http.StatusOK, code)
	r, sum = w.up(t, "recreate", w.config, upTimeout, append(portFlag, "--example-route", "ingress")...)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	code, after := manifestDigest(t, port, appName, "v2")
	assert.Equal(t, http.StatusOK, code, "the pushed image's manifest still answers after recreate")
	assert.Equal(t, digest, after)
	// On the new cluster the app comes from a Kustomization of the user's, installed as an app:
	// the pod pulls localhost:<port>/… from the registry, and up's smoke check goes through the
	// ingress to it.
	withApp := registryAppConfig(t, w, port, ref("v2"))
	r, sum = w.up(t, "up", withApp, upTimeout, append(portFlag, "--example-route", "ingress")...)
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, sum.Ready, "%s", r)
	assert.Contains(t, r.stderr, "Install "+appName)
	assert.Contains(t, r.stderr, "✓ Smoke test through the ingress")
	appAnswers(t, w, "registryapp v2")
	cs = w.clientset(t)

	// An up without the registry (and without the app) prunes its ConfigMap, the node's hosts
	// file and the app; the registry and its images stay.
	r, sum = w.up(t, "up", w.config, upTimeout, "--example-route", "ingress")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "registry removed")
	_, err = cs.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "local-registry-hosting", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the KEP-1755 ConfigMap is pruned: %v", err)
	container, volume = registryState(t, w)
	assert.Equal(t, "running", container)
	assert.Equal(t, "present", volume)
	code, _ = manifestDigest(t, port, appName, "v2")
	assert.Equal(t, http.StatusOK, code)
}

// testDownKeepsTheRegistry: down (of the cluster, if there is one) keeps the registry with what was pushed;
// `kindstack registry rm` removes it and its storage; a second one finds nothing and succeeds.
func testDownKeepsTheRegistry(t *testing.T, w *world, port int) {
	r := w.run(t, 5*time.Minute, w.config, "down")
	require.Equal(t, 0, r.code, "%s", r)
	container, volume := registryState(t, w)
	assert.Equal(t, "running", container, "down keeps the registry")
	assert.Equal(t, "present", volume)
	code, _ := manifestDigest(t, port, appName, "v2")
	assert.Equal(t, http.StatusOK, code, "and what was pushed to it")

	r = w.run(t, time.Minute, "", "registry", "rm")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "container removed · volume "+registryVolume+" removed with its data")
	container, volume = registryState(t, w)
	assert.Empty(t, container)
	assert.Empty(t, volume)

	r = w.run(t, time.Minute, "", "registry", "rm")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "already absent")
}

// RegistryHoldsTheApp: kindstack's registry runs holding the app's image v2, with or without a
// cluster (the registry scenario leaves it so, and TestDown's down keeps it). Alone, the fixture
// makes it the way a user would: up with the registry, build and push.
func (f *fixture) RegistryHoldsTheApp(t *testing.T) (*world, int) {
	t.Helper()
	w := f.world(t)
	port := registryPort(t)
	container, _ := registryState(t, w)
	if container == "running" {
		if code, _ := manifestDigest(t, port, appName, "v2"); code == http.StatusOK {
			return w, port
		}
	}
	f.converge(t, "no registry holding "+appName+":v2", "up --registry, push it")
	r := w.run(t, time.Minute, w.config, "registry", "rm")
	require.Equal(t, 0, r.code, "fixture: registry rm\n%s", r)
	w.ingress = "nginx"
	r, sum := w.up(t, "up", w.config, upTimeout, "--registry", "--registry-port", strconv.Itoa(port), "--restart")
	require.Equal(t, 0, r.code, "fixture: up --registry\n%s", r)
	require.True(t, sum.Ready, "fixture: up --registry\n%s", r)
	ref := fmt.Sprintf("localhost:%d/%s:v2", port, appName)
	buildApp(t, w, ref, "v2")
	engine(t, w, "push", ref)
	return w, port
}

// registryAppConfig is the world's config with one app: a Kustomization (written to a temporary
// directory, as a user's repository holds it) running image, routed at appPath by an Ingress, with
// a smoke check that its answer names the image's version.
func registryAppConfig(t *testing.T, w *world, port int, image string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - name: app
        image: %[2]s
        imagePullPolicy: Always
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %[1]s}
spec:
  ingressClassName: nginx
  rules:
  - http:
      paths:
      - {path: %[3]s, pathType: Prefix, backend: {service: {name: %[1]s, port: {number: 80}}}}
`, appName, image, appPath)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifest), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [app.yaml]\n"), 0o644))
	return editedConfig(t, w, "registry-app.yaml", func(stack map[string]any) {
		stack["apps"] = []any{map[string]any{
			"name": appName, "path": dir, "needs": []any{"ingress"},
			"smoke": map[string]any{"path": appPath, "contains": "registryapp v2"},
		}}
		stack["registry"] = map[string]any{"port": port}
	})
}
