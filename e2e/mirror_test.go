//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mirrored are the images a Traefik stack runs, as the registry serves them: registry, then
// repository path and tag.
var mirrored = []struct{ registry, path, tag string }{
	{"registry.k8s.io", "metrics-server/metrics-server", "v0.8.0"},
	{"docker.io", "library/traefik", "v3.7.13"},
	{"docker.io", "library/postgres", "17-alpine"},
	{"docker.io", "lyzhang1999/backend", "latest"},
	{"docker.io", "lyzhang1999/frontend", "latest"},
}

// testRecreateThroughMirror recreates the cluster from nothing with Traefik, preload off and
// mirrors for docker.io and registry.k8s.io pointing at the test bed's registry (a real OCI
// registry on kind's network): every image must come through the mirror. Without the air-gapped
// test bed there is no such registry, and the scenario is a plain recreate.
func testRecreateThroughMirror(t *testing.T, w *world) {
	if os.Getenv("KINDSTACK_E2E_CONFIG") == "" {
		t.Log("no air-gapped test bed (KINDSTACK_E2E_CONFIG unset): no registry to mirror through; recreating without mirrors")
		testRecreateWithTraefik(t, w)
		return
	}
	reg := testbedRegistry(t)
	since := time.Now()
	w.ingress = "traefik"
	r, sum := w.up(t, "recreate", mirrorConfig(t, w, reg["REGISTRY_URL"]), upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.True(t, sum.Created)
	assert.Contains(t, r.stderr, "mirrors for docker.io, registry.k8s.io written", "the cluster step writes the node's hosts.toml")
	assert.Contains(t, r.stderr, "registry mirror "+reg["REGISTRY_URL"]+" (for docker.io, registry.k8s.io) does not answer from this machine",
		"preflight warns, once, that this machine cannot reach the mirror (only kind's network can)")
	assert.NotRegexp(t, `✓ Install [a-z-]+ .*images?: [^·]*loaded`, r.stderr, "preload is off: nothing is copied from the host's engine")
	assert.Regexp(t, `✓ Install traefik .*image: 1 pulled by the node`, r.stderr)

	logs := registryLog(t, reg, since)
	for _, img := range mirrored {
		pulled := regexp.MustCompile(`(GET|HEAD) /v2/` + regexp.QuoteMeta(img.path) + `/manifests/` + regexp.QuoteMeta(img.tag) +
			`\?ns=` + regexp.QuoteMeta(img.registry))
		assert.Regexp(t, pulled, logs, "the node resolved %s/%s:%s through the mirror", img.registry, img.path, img.tag)
	}
	assertStackWorks(t, w)
	_, rep := w.status(t)
	assert.Equal(t, "traefik", rep.Ingress)
}

// testbedRegistry starts the test bed's registry (e2e/testbed/registry.sh) and returns its paths.
func testbedRegistry(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join("testbed", "registry.sh"), "start").CombinedOutput()
	require.NoError(t, err, "e2e/testbed/registry.sh start:\n%s", out)
	return scriptPaths(t, "registry.sh")
}

// registryLog is what the registry logged since then (one line per request).
func registryLog(t *testing.T, reg map[string]string, since time.Time) string {
	t.Helper()
	out, err := exec.Command("docker", "logs", "--since", since.Format(time.RFC3339), reg["REGISTRY_NAME"]).CombinedOutput()
	require.NoError(t, err, "docker logs %s: %s", reg["REGISTRY_NAME"], out)
	return string(out)
}

// mirrorConfig is the world's config with every image pulled through mirror: the digest-pinned
// references become their tags (the registry holds the test bed's builds, whose digests differ
// from upstream's), the images keep their upstream names, and nothing is preloaded.
func mirrorConfig(t *testing.T, w *world, mirror string, edits ...func(stack map[string]any)) string {
	t.Helper()
	return editedConfig(t, w, "mirror.yaml", func(stack map[string]any) {
		stack["images"] = map[string]string{
			"registry.k8s.io/metrics-server/metrics-server:v0.8.0": "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
			"docker.io/library/traefik:v3.7.13":                    "docker.io/library/traefik:v3.7.13",
		}
		stack["registryMirrors"] = map[string][]string{"docker.io": {mirror}, "registry.k8s.io": {mirror}}
		stack["preload"] = false
		for _, edit := range edits {
			edit(stack)
		}
	})
}

// testMirrorMissFailsFast: the frontend's image is on no mirror and the registry itself cannot
// be reached: up fails well within a minute, with the default --timeout, naming the image and
// the mirror's answer. The cluster is left broken.
func testMirrorMissFailsFast(t *testing.T, w *world) {
	reg := testbedRegistry(t)
	config := mirrorConfig(t, w, reg["REGISTRY_URL"], func(stack map[string]any) {
		stack["images"].(map[string]string)["lyzhang1999/frontend:latest"] = "docker.io/lyzhang1999/does-not-exist:v0"
	})
	r, sum := w.up(t, "up", config, upTimeout)
	require.Equal(t, 1, r.code, "%s", r)
	assert.False(t, sum.Ready)
	assert.Less(t, r.duration, 60*time.Second+20*time.Second, "up fails fast (the image pulls only start once the cluster step is done)")
	assert.Contains(t, r.stderr, "docker.io/lyzhang1999/does-not-exist:v0", "the error names the image")
	assert.Contains(t, r.stderr, "not on mirror "+reg["REGISTRY_URL"]+" (HTTP 404)", "the error says what the mirror answered")
	assert.Contains(t, r.stderr, "--registry-mirror", "and what to do next")
	assert.Contains(t, r.stderr, "--bundle")
}

// testBundle saves every image from the registry into one bundle (one pinned by the digest it
// has there), deletes the cluster, stops the registry and brings the stack up again from the
// bundle alone: nothing is pulled, nothing is preloaded from the host's engine.
func testBundle(t *testing.T, w *world) {
	w.ingress = "traefik" // the stack the bundle holds
	reg := testbedRegistry(t)
	out, err := exec.Command(reg["CRANE"], "digest", "--insecure", strings.TrimPrefix(reg["REGISTRY_HOST_URL"], "http://")+"/library/traefik:v3.7.13").Output()
	require.NoError(t, err, "crane digest")
	digest := strings.TrimSpace(string(out))
	pinned := "docker.io/library/traefik:v3.7.13@" + digest
	pin := func(stack map[string]any) {
		stack["images"].(map[string]string)["docker.io/library/traefik:v3.7.13"] = pinned
	}
	file := filepath.Join(t.TempDir(), "workshop.tar")
	// The host's engine pulls Traefik from the registry's host port, so it knows the image by
	// that registry's digest (RepoDigests): the last check below.
	pulledByEngine := strings.TrimPrefix(reg["REGISTRY_HOST_URL"], "http://") + "/library/traefik:v3.7.13"
	pull, err := exec.Command("docker", "pull", pulledByEngine).CombinedOutput()
	require.NoError(t, err, "docker pull %s: %s", pulledByEngine, pull)

	// On the machine with access: the mirror is the registry's host port.
	save := w.run(t, 5*time.Minute, mirrorConfig(t, w, reg["REGISTRY_HOST_URL"], pin), "images", "save", file, "--ingress", "traefik", "-o", "json")
	require.Equal(t, 0, save.code, "%s", save)
	var meta struct {
		Images []struct {
			Ref      string   `json:"ref"`
			Names    []string `json:"names"`
			Manifest string   `json:"manifest"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal([]byte(save.stdout), &meta), save.stdout)
	require.Len(t, meta.Images, len(mirrored), "every image a Traefik stack runs, the node image left out")
	for _, img := range meta.Images {
		if img.Ref == pinned {
			assert.Equal(t, pinned[strings.Index(pinned, "@")+1:], img.Manifest, "the registry's digest, kept")
			assert.Contains(t, img.Names, "docker.io/library/traefik@"+img.Manifest)
		}
	}
	fi, err := os.Stat(file)
	require.NoError(t, err)
	t.Logf("bundle: %d images, %.1f MiB, saved in %s", len(meta.Images), float64(fi.Size())/(1<<20), save.duration.Round(100*time.Millisecond))

	down := w.run(t, 5*time.Minute, w.config, "down")
	require.Equal(t, 0, down.code, "%s", down)
	stop, err := exec.Command("bash", filepath.Join("testbed", "registry.sh"), "stop").CombinedOutput()
	require.NoError(t, err, "registry.sh stop: %s", stop)

	// On the workshop laptop: no registry at all, the bundle only.
	r, sum := w.up(t, "up", mirrorConfig(t, w, reg["REGISTRY_URL"], pin), upTimeout, "--bundle", file)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Import `+regexp.QuoteMeta(file)+` · 5 images imported`, r.stderr)
	assert.NotContains(t, r.stderr, "pulled by the node", "every image came from the bundle")
	assert.NotRegexp(t, `✓ Install [a-z-]+ .*images?: [^·]*loaded`, r.stderr, "and none from the host's engine")
	t.Logf("up --bundle from nothing took %.1fs", sum.Seconds)
	pods, err := w.clientset(t).CoreV1().Pods("traefik").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	assert.Equal(t, pinned, pods.Items[0].Spec.Containers[0].Image, "Traefik runs by the pinned digest, resolved from the bundle")
	assertStackWorks(t, w)

	// Pinned to the digest the engine pulled it under, from a registry the node cannot reach
	// (127.0.0.1 in the node is the node): only the preload can bring it, as repo@digest.
	enginePinned := pulledByEngine + "@" + digest
	r, sum = w.up(t, "up", mirrorConfig(t, w, reg["REGISTRY_URL"], func(stack map[string]any) {
		stack["images"].(map[string]string)["docker.io/library/traefik:v3.7.13"] = enginePinned
		stack["preload"] = true
	}), upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Install traefik · image: 1 loaded`, r.stderr, "the engine's copy, matched by its RepoDigests")
	pods, err = w.clientset(t).CoreV1().Pods("traefik").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			assert.Equal(t, enginePinned, p.Spec.Containers[0].Image)
		}
	}
}

// testRecreateKeepsTheNodesImages: the node holds images the host's engine does not (they came
// from the bundle or through the mirror) and there is no registry: recreate carries them over to
// the new node, so nothing has to be pulled.
func testRecreateKeepsTheNodesImages(t *testing.T, w *world) {
	reg := scriptPaths(t, "registry.sh")
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", reg["REGISTRY_NAME"]).CombinedOutput()
	require.Error(t, err, "no registry runs (the precondition): %s", out)
	r, sum := w.up(t, "recreate", mirrorConfig(t, w, reg["REGISTRY_URL"]), upTimeout)
	require.Equal(t, 0, r.code, "%s", r)
	assert.True(t, sum.Ready)
	assert.Regexp(t, `✓ Keep the node's images · 5 images`, r.stderr, "preload is off: every image the old node held")
	assert.Contains(t, r.stderr, "✓ Restore the node's images · imported into the new node")
	assert.NotContains(t, r.stderr, "pulled by the node")
	t.Logf("recreate keeping the node's images took %.1fs", sum.Seconds)
	assertStackWorks(t, w)
}
