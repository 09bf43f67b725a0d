//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
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
// test bed there is no such registry, and the step is a plain recreate.
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
	assert.Contains(t, r.stderr, "registry mirror "+reg["REGISTRY_URL"]+" (for docker.io) does not answer from this machine",
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
	out, err = exec.Command("bash", filepath.Join("testbed", "registry.sh"), "paths").Output()
	require.NoError(t, err, "e2e/testbed/registry.sh paths")
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			paths[k] = v
		}
	}
	return paths
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
func mirrorConfig(t *testing.T, w *world, mirror string) string {
	t.Helper()
	stack := map[string]any{}
	data, err := os.ReadFile(w.config)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &stack))
	stack["images"] = map[string]string{
		"registry.k8s.io/metrics-server/metrics-server:v0.8.0": "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
		"docker.io/library/traefik:v3.7.13":                    "docker.io/library/traefik:v3.7.13",
	}
	stack["registryMirrors"] = map[string][]string{"docker.io": {mirror}, "registry.k8s.io": {mirror}}
	stack["preload"] = false
	out, err := yaml.Marshal(stack)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "mirror.yaml")
	require.NoError(t, os.WriteFile(p, out, 0o644))
	return p
}
