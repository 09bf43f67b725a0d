package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/nodeimage"
)

func TestMakeRunLineSaysWhichPathMakeRunTakes(t *testing.T) {
	t.Parallel()
	const sock = "/cache/docker/docker.sock"
	const cfg = "/cache/offline/kindstack.yaml"
	tests := []struct {
		name    string
		facts   makeRunFacts
		verdict Verdict
		detail  string
		fix     string
	}{
		{name: "a workstation with Docker and the registries", verdict: OK,
			facts:  makeRunFacts{Engine: "docker", EngineVersion: "28.2.2", Reachable: []string{"registry-1.docker.io", "registry.k8s.io"}},
			detail: "engine: yours (docker 28.2.2); images: pulled (registry-1.docker.io, registry.k8s.io answer)"},
		{name: "a bundle needs no registry", verdict: OK,
			facts:  makeRunFacts{Engine: "podman", EngineVersion: "5.0.0", Bundle: true, Unreachable: []string{"registry.k8s.io"}},
			detail: "engine: yours (podman 5.0.0); images: from the bundle (--bundle)"},
		{name: "a fresh CI machine as root: the private engine is started and the images built", verdict: Warn,
			facts:  makeRunFacts{PrivateSocket: sock, CanStartPrivate: true, Root: true, Unreachable: []string{"registry.k8s.io"}, OfflineConfig: cfg},
			detail: "engine: none answers, so kindstack's private engine is started (Debian's docker.io; /cache/docker/docker.sock); images: built from source, as no registry or mirror answers for registry.k8s.io; not built yet: the first make run builds them (about 20 min on 2 cores)",
			fix:    "make offline-images builds them ahead; --registry-mirror or --bundle avoid the build"},
		{name: "the second make run there", verdict: OK,
			facts:  makeRunFacts{PrivateSocket: sock, PrivateAnswers: true, CanStartPrivate: true, Root: true, Unreachable: []string{"registry.k8s.io"}, OfflineConfig: cfg, OfflineCached: true},
			detail: "engine: kindstack's private engine, running (/cache/docker/docker.sock); images: built from source, as no registry or mirror answers for registry.k8s.io; cached (/cache/offline/kindstack.yaml), checked again in seconds",
			fix:    "export DOCKER_HOST=unix:///cache/docker/docker.sock to reach it with kindstack and docker"},
		{name: "DOCKER_HOST already points at the private engine", verdict: OK,
			facts:  makeRunFacts{Engine: "docker", EngineIsPrivate: true, PrivateSocket: sock, Root: true, Unreachable: []string{"registry.k8s.io"}, OfflineCached: true, OfflineConfig: cfg},
			detail: "engine: kindstack's private engine (/cache/docker/docker.sock, through DOCKER_HOST); images: built from source, as no registry or mirror answers for registry.k8s.io; cached (/cache/offline/kindstack.yaml), checked again in seconds"},
		{name: "a user without an engine", verdict: Fail,
			facts:  makeRunFacts{PrivateSocket: sock, Reachable: []string{"registry.k8s.io"}},
			detail: "engine: none answers, and only root can start kindstack's own: make run stops; images: pulled (registry.k8s.io answer)",
			fix:    "start Docker (or install Debian's docker.io and run make run as root)"},
		{name: "a user with Docker but no registry cannot build", verdict: Fail,
			facts:  makeRunFacts{Engine: "docker", EngineVersion: "28.2.2", Unreachable: []string{"registry-1.docker.io"}, OfflineConfig: cfg},
			detail: "engine: yours (docker 28.2.2); images: built from source, as no registry or mirror answers for registry-1.docker.io; but the build needs root and a Docker engine",
			fix:    "run make offline-images as root once, or give --registry-mirror REGISTRY=URL or --bundle FILE"},
		{name: "root with Podman and no registry: the build needs Docker", verdict: Fail,
			facts:  makeRunFacts{Engine: "podman", EngineVersion: "4.3.1", Root: true, CanStartPrivate: true, Unreachable: []string{"registry-1.docker.io"}},
			detail: "engine: yours (podman 4.3.1); images: built from source, as no registry or mirror answers for registry-1.docker.io; but the build needs root and a Docker engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := makeRunCheck(tt.facts)
			assert.Equal(t, "make run", c.Name)
			assert.Equal(t, tt.verdict, c.Verdict)
			assert.Equal(t, tt.detail, c.Detail)
			if tt.fix != "" {
				assert.Contains(t, c.Fix, tt.fix)
			}
			if tt.verdict == OK && tt.fix == "" {
				assert.Empty(t, c.Fix)
			}
		})
	}
}

// A registry is reachable when it or one of its mirrors answers; every source is asked.
func TestDoctorMakeRunProbesEachRegistryAndItsMirrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := testManager(t, map[string]string{"KINDSTACK_TESTBED_DIR": dir}, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
	m.ProcRoot, m.FreeBytes = t.TempDir(), func(string) (int64, error) { return 100 << 30, nil }
	m.LookupHost = func(context.Context, string) ([]string, error) { return []string{"192.0.2.1"}, nil }
	answering := map[string]bool{"https://mirror.example:5000": true}
	var mu sync.Mutex
	var asked []string
	m.ProbeRegistry = func(_ context.Context, base string) error {
		mu.Lock()
		asked = append(asked, base)
		mu.Unlock()
		if answering[base] {
			return nil
		}
		return errors.New("connection refused")
	}
	opts := DoctorOptions{
		Spec:       Spec{Name: "kindstack", NodeImage: nodeimage.Default, ListenAddress: "127.0.0.1", HTTPPort: freePort(t), HTTPSPort: freePort(t)},
		Kubeconfig: filepath.Join(t.TempDir(), "config"),
		Registries: []string{"registry-1.docker.io", "registry.k8s.io"},
		Mirrors:    map[string][]string{"registry-1.docker.io": {"https://mirror.example:5000/"}},
	}
	c := checkNamed(t, m.Doctor(context.Background(), opts), "make run")
	assert.ElementsMatch(t, []string{"https://registry-1.docker.io", "https://mirror.example:5000", "https://registry.k8s.io"}, asked)
	assert.Contains(t, c.Detail, "no registry or mirror answers for registry.k8s.io;", "Docker Hub's images come through its mirror")
	assert.Contains(t, c.Detail, "not built yet")

	// Once the offline build wrote its images map, the same machine takes the cached path.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "offline"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "offline", "kindstack.yaml"), []byte("kind: Stack\n"), 0o644))
	c = checkNamed(t, m.Doctor(context.Background(), opts), "make run")
	assert.Contains(t, c.Detail, "cached ("+filepath.Join(dir, "offline", "kindstack.yaml")+")")
}

// The probe counts any HTTP answer (a registry says 401 without credentials), also over TLS
// with a self-signed certificate, and nothing from a port where nobody listens.
func TestProbeRegistryHTTPCountsAnyAnswer(t *testing.T) {
	t.Parallel()
	registry := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v2/", r.URL.Path)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer registry.Close()
	require.NoError(t, probeRegistryHTTP(context.Background(), registry.URL))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	assert.Error(t, probeRegistryHTTP(context.Background(), closed))
}

// kindstack's private engine is found on its socket in the offline cache, without DOCKER_HOST.
func TestDoctorMakeRunFindsThePrivateEngine(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "ks") // a unix socket path must stay short
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "docker"), 0o700))
	l, err := net.Listen("unix", filepath.Join(dir, "docker", "docker.sock"))
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			_, _ = w.Write([]byte("OK"))
			return
		}
		http.NotFound(w, r)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })

	m := testManager(t, map[string]string{"KINDSTACK_TESTBED_DIR": dir}, fakeRuntime{installed: dockerOnly}, &fakeProvider{}, nil)
	m.ProbeRegistry = func(context.Context, string) error { return nil }
	f := m.makeRunFacts(context.Background(), Runtime{}, "", errors.New("no engine"), DoctorOptions{Registries: []string{"registry.k8s.io"}})
	assert.True(t, f.PrivateAnswers)
	assert.Contains(t, makeRunCheck(f).Detail, "engine: kindstack's private engine, running ("+filepath.Join(dir, "docker", "docker.sock")+")")

	require.NoError(t, srv.Close())
	<-done
	f = m.makeRunFacts(context.Background(), Runtime{}, "", errors.New("no engine"), DoctorOptions{})
	assert.False(t, f.PrivateAnswers, "a socket nobody serves is no engine")
}

func TestOfflineDirIsTheTestBedCache(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	assert.Equal(t, "/x", OfflineDir(env(map[string]string{"KINDSTACK_TESTBED_DIR": "/x", "HOME": "/h"})))
	assert.Equal(t, "/c/kindstack-testbed", OfflineDir(env(map[string]string{"XDG_CACHE_HOME": "/c", "HOME": "/h"})))
	assert.Equal(t, "/h/.cache/kindstack-testbed", OfflineDir(env(map[string]string{"HOME": "/h"})))
}
