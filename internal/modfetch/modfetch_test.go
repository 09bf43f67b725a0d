package modfetch

import (
	"archive/zip"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/dirhash"
)

// moduleZip writes a module zip (files under module@version/) and returns its path and go.sum hash.
func moduleZip(t *testing.T, m Module, files map[string]string) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.zip")
	f, err := os.Create(p)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for name, body := range files {
		w, err := zw.Create(m.String() + "/" + name)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	sum, err := dirhash.HashZip(p, dirhash.Hash1)
	require.NoError(t, err)
	return p, sum
}

var crdFiles = map[string]string{
	"config/crd/standard/b.yaml":        "kind: B\n",
	"config/crd/standard/a.yaml":        "kind: A\n",
	"config/crd/standard/README.md":     "not yaml\n",
	"config/crd/experimental/c.yaml":    "kind: C\n",
	"config/crd/standard/nested/d.yaml": "kind: D\n",
}

func proxyServing(t *testing.T, m Module, zipPath string, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/sigs.k8s.io/example/@v/v1.2.3.zip" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, zipPath)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestYAMLDownloadsVerifiesCachesAndConcatenatesInNameOrder(t *testing.T) {
	t.Parallel()
	m := Module{Path: "sigs.k8s.io/example", Version: "v1.2.3"}
	zipPath, sum := moduleZip(t, m, crdFiles)
	m.Sum = sum
	var hits atomic.Int32
	srv := proxyServing(t, m, zipPath, &hits)
	f := Fetcher{Proxy: "off," + srv.URL + ",direct", CacheDir: t.TempDir()}

	got, err := f.YAML(t.Context(), m, "config/crd/standard")
	require.NoError(t, err)
	assert.Equal(t, "\n---\nkind: A\n\n---\nkind: B\n", string(got), "only *.yaml directly in the directory, sorted")
	assert.Equal(t, int32(1), hits.Load())

	_, err = f.YAML(t.Context(), m, "config/crd/standard")
	require.NoError(t, err)
	assert.Equal(t, int32(1), hits.Load(), "the second read comes from the cache")
}

func TestYAMLPrefersTheGoModuleCache(t *testing.T) {
	t.Parallel()
	m := Module{Path: "sigs.k8s.io/example", Version: "v1.2.3"}
	zipPath, sum := moduleZip(t, m, crdFiles)
	m.Sum = sum
	modCache := t.TempDir()
	dst := filepath.Join(modCache, "cache", "download", "sigs.k8s.io", "example", "@v", "v1.2.3.zip")
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	data, err := os.ReadFile(zipPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, 0o644))

	got, err := Fetcher{ModCache: modCache}.YAML(t.Context(), m, "config/crd/standard")
	require.NoError(t, err, "no proxy and no cache directory are needed")
	assert.Contains(t, string(got), "kind: A")
}

func TestYAMLRefusesAZipWhoseHashIsNotTheGoSumOne(t *testing.T) {
	t.Parallel()
	m := Module{Path: "sigs.k8s.io/example", Version: "v1.2.3"}
	zipPath, _ := moduleZip(t, m, crdFiles)
	m.Sum = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	var hits atomic.Int32
	srv := proxyServing(t, m, zipPath, &hits)
	cache := t.TempDir()

	_, err := Fetcher{Proxy: srv.URL, CacheDir: cache}.YAML(t.Context(), m, "config/crd/standard")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= (go.sum): refusing it")
	assert.Contains(t, err.Error(), "set GOPROXY to a module proxy this machine reaches")
	leftovers, _ := filepath.Glob(filepath.Join(cache, "sigs.k8s.io", "example", "@v", "*"))
	assert.Empty(t, leftovers, "a refused download is not kept")
}

func TestYAMLSaysWhatToDoWithoutAProxy(t *testing.T) {
	t.Parallel()
	m := Module{Path: "sigs.k8s.io/example", Version: "v1.2.3", Sum: "h1:x"}
	_, err := Fetcher{Proxy: "off", CacheDir: t.TempDir()}.YAML(t.Context(), m, "config")
	require.Error(t, err)
	assert.Equal(t, `module sigs.k8s.io/example@v1.2.3 is not in the Go module cache, and GOPROXY="off" names no module proxy to download it from`, err.Error())

	var hits atomic.Int32
	srv := proxyServing(t, m, "", &hits)
	_, err = Fetcher{Proxy: srv.URL + "/nowhere", CacheDir: t.TempDir()}.YAML(t.Context(), m, "config")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "404 Not Found"), err.Error())
}

func TestYAMLChecksTheCacheDirectoryBeforeUsingIt(t *testing.T) {
	t.Parallel()
	m := Module{Path: "sigs.k8s.io/example", Version: "v1.2.3", Sum: "h1:x"}
	var hits atomic.Int32
	srv := proxyServing(t, m, "", &hits)
	refuse := func(dir string) error { return errors.New(dir + " is a symbolic link") }
	_, err := Fetcher{Proxy: srv.URL, CacheDir: "/tmp/shared-cache", PrivateDir: refuse}.YAML(t.Context(), m, "config")
	require.Error(t, err)
	assert.Equal(t, "module cache: /tmp/shared-cache is a symbolic link", err.Error())
	assert.Zero(t, hits.Load(), "nothing is downloaded into a directory that is not the user's own")
}
