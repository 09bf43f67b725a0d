package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// githubEnv is a fake GitHub Actions step environment: its files and variables.
type githubEnv struct {
	dir, output, path, runnerTemp string
}

func newGitHubEnv(t *testing.T) githubEnv {
	t.Helper()
	dir := t.TempDir()
	g := githubEnv{dir: dir, output: filepath.Join(dir, "output"), path: filepath.Join(dir, "path"), runnerTemp: filepath.Join(dir, "runner-temp")}
	require.NoError(t, os.MkdirAll(g.runnerTemp, 0o755))
	return g
}

func (g githubEnv) run(t *testing.T, script string, env ...string) (string, int) {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	cmd := exec.Command("bash", filepath.Join(root, ".github", "action", script))
	cmd.Env = append([]string{"PATH=" + filepath.Join(g.dir, "bin") + ":" + os.Getenv("PATH"), "HOME=" + g.dir,
		"GITHUB_OUTPUT=" + g.output, "GITHUB_PATH=" + g.path, "RUNNER_TEMP=" + g.runnerTemp, "ACTION_PATH=" + root}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "%s", out)
	}
	return string(out), code
}

func (g githubEnv) read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(data)
}

// fakeTool puts a shell script named name on the environment's PATH.
func (g githubEnv) fakeTool(t *testing.T, name, body string) {
	t.Helper()
	bin := filepath.Join(g.dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/usr/bin/env bash\n"+body), 0o755))
}

func TestActionBuildStepSaysWhichImagesUpRuns(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("SKIPPED: jq is not installed (GitHub's runners have it)")
	}
	bin := filepath.Join(t.TempDir(), "kindstack")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	g := newGitHubEnv(t)
	log, code := g.run(t, "build.sh", "KINDSTACK_PREBUILT="+bin, "INPUT_ARGS=--no-example")
	require.Equal(t, 0, code, log)
	assert.Equal(t, filepath.Join(g.runnerTemp, "kindstack-bin")+"\n", g.read(t, g.path), "kindstack goes on PATH")
	assert.FileExists(t, filepath.Join(g.runnerTemp, "kindstack-bin", "kindstack"))
	assert.Regexp(t, `^images-key=dev[^\n]*-[0-9a-f]{16}\n$`, g.read(t, g.output))
	images := g.read(t, filepath.Join(g.runnerTemp, "kindstack-images.txt"))
	assert.Contains(t, images, "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:")
	assert.NotContains(t, images, "postgres", "--no-example: the example's images are not run")

	airgap := newGitHubEnv(t)
	_, code = airgap.run(t, "build.sh", "KINDSTACK_PREBUILT="+bin, "INPUT_CONFIG="+filepath.Join("testdata", "airgap.yaml"))
	require.Equal(t, 0, code)
	for _, img := range strings.Fields(airgap.read(t, filepath.Join(airgap.runnerTemp, "kindstack-images.txt"))) {
		assert.True(t, strings.HasPrefix(img, "kindstack.test/"), "the config's images map is applied: %s", img)
	}
	assert.NotEqual(t, g.read(t, g.output), airgap.read(t, airgap.output), "other images, another cache key")

	traefik := newGitHubEnv(t)
	log, code = traefik.run(t, "build.sh", "KINDSTACK_PREBUILT="+bin, "INPUT_INGRESS=traefik", "INPUT_ARGS=--no-example")
	require.Equal(t, 0, code, log)
	images = traefik.read(t, filepath.Join(traefik.runnerTemp, "kindstack-images.txt"))
	assert.Contains(t, images, "docker.io/library/traefik:v3.7.13@sha256:", "the ingress input picks the controller")
	assert.NotContains(t, images, "ingress-nginx")
	assert.NotEqual(t, g.read(t, g.output), traefik.read(t, traefik.output), "another controller, another cache key")
}

const upSummaryJSON = `{"name":"ci","ready":true,"created":true,"context":"kind-ci","urls":["http://localhost:8080/","http://localhost:8080/api/healthy"],"seconds":80.5,"timings":[]}`

func TestActionUpStepWritesItsOutputsAndCachesImages(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("SKIPPED: jq is not installed (GitHub's runners have it)")
	}
	g := newGitHubEnv(t)
	calls := filepath.Join(g.dir, "calls")
	g.fakeTool(t, "kindstack", `echo "kindstack $*" >> "`+calls+`"; if [ "$1" = images ]; then echo bundle > "$3"; else echo '`+upSummaryJSON+`'; fi`)
	g.fakeTool(t, "docker", `echo "docker $*" >> "`+calls+`"`)
	cache := filepath.Join(g.dir, "cache")
	bundle := filepath.Join(cache, "bundle.tar")
	env := []string{"INPUT_NAME=ci", "INPUT_CONFIG=ci.yaml", "INPUT_INGRESS=traefik", "INPUT_ARGS=--no-example --http-port 8080", "INPUT_CACHE_IMAGES=true", "IMAGE_CACHE=" + cache}

	log, code := g.run(t, "up.sh", env...)
	require.Equal(t, 0, code, log)
	outputs := g.read(t, g.output)
	assert.Contains(t, outputs, "context=kind-ci\n")
	assert.Contains(t, outputs, "base-url=http://localhost:8080\n")
	_, block, found := strings.Cut(outputs, "summary<<")
	require.True(t, found, outputs)
	lines := strings.Split(block, "\n")
	require.GreaterOrEqual(t, len(lines), 3, outputs)
	assert.Regexp(t, `^kindstack-\d+$`, lines[0])
	assert.Equal(t, []string{upSummaryJSON, lines[0]}, lines[1:3], "the summary is a multi-line output closed by its own delimiter")
	assert.Equal(t, "kindstack up -o json --name ci --config ci.yaml --ingress traefik --no-example --http-port 8080\n"+
		"kindstack images save "+bundle+" --node-image -q --config ci.yaml --ingress traefik --no-example --http-port 8080\n", g.read(t, calls),
		"a cold cache: after up, one bundle of every image it runs, the node image and the digest-pinned ones included")

	// The next run finds the cache: up imports the bundle, nothing is saved again.
	require.NoError(t, os.Remove(calls))
	require.NoError(t, os.Remove(g.output))
	_, code = g.run(t, "up.sh", env...)
	require.Equal(t, 0, code)
	assert.Equal(t, "kindstack up -o json --name ci --config ci.yaml --ingress traefik --bundle "+bundle+" --no-example --http-port 8080\n", g.read(t, calls))

	// A failed up fails the step, still with its outputs, and caches nothing.
	failing := newGitHubEnv(t)
	failing.fakeTool(t, "kindstack", `echo '{"name":"ci","ready":false,"urls":[],"seconds":3,"timings":[],"error":"preflight: port 80 in use"}'; exit 1`)
	failing.fakeTool(t, "docker", `echo "docker $*" >> "`+calls+`"`)
	require.NoError(t, os.Remove(calls))
	_, code = failing.run(t, "up.sh", "INPUT_NAME=ci", "INPUT_CACHE_IMAGES=true", "IMAGE_CACHE="+filepath.Join(failing.dir, "cache"))
	assert.Equal(t, 1, code, "the step fails with up")
	assert.Contains(t, failing.read(t, failing.output), "base-url=\n")
	assert.Contains(t, failing.read(t, failing.output), `"error":"preflight: port 80 in use"`)
	assert.Empty(t, failing.read(t, calls), "nothing is cached from a failed run")
}
