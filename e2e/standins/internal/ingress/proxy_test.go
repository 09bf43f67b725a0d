package ingress

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
)

type fakeResolver map[string][]string

func (f fakeResolver) Endpoints(b Backend) ([]string, error) {
	eps, ok := f[b.Service]
	if !ok {
		return nil, ErrNoEndpoints
	}
	return eps, nil
}

func TestProxy(t *testing.T) {
	t.Parallel()
	upstream := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Upstream", name)
			_, _ = io.WriteString(w, name+" "+r.URL.RequestURI()+" host="+r.Host+" xff="+r.Header.Get("X-Forwarded-For"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	backend1, backend2, frontend := upstream("backend-1"), upstream("backend-2"), upstream("frontend")
	resolver := fakeResolver{
		"backend-service":  {strings.TrimPrefix(backend1.URL, "http://"), strings.TrimPrefix(backend2.URL, "http://")},
		"frontend-service": {strings.TrimPrefix(frontend.URL, "http://")},
	}
	p := NewProxy(resolver, slog.New(slog.NewTextHandler(io.Discard, nil)))
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)

	get := func(t *testing.T, path string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, front.URL+path, nil)
		require.NoError(t, err)
		req.Host = "localhost"
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body), resp.Header
	}

	code, body, _ := get(t, "/api/healthy")
	assert.Equal(t, http.StatusNotFound, code, "no table yet: default backend 404")
	assert.Contains(t, body, "404 Not Found")

	table, errs := BuildTable([]*networkingv1.Ingress{exampleIngress(networkingv1.PathTypeImplementationSpecific)})
	require.Empty(t, errs)
	p.SetTable(table)

	code, body, _ = get(t, "/api/fetch?x=1")
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `^backend-\d /fetch\?x=1 host=localhost xff=127\.0\.0\.1$`, body)

	seen := map[string]bool{}
	for range 4 {
		_, _, h := get(t, "/api/host_name")
		seen[h.Get("X-Upstream")] = true
	}
	assert.Equal(t, map[string]bool{"backend-1": true, "backend-2": true}, seen, "round robin over ready endpoints")

	code, body, _ = get(t, "/anything")
	require.Equal(t, http.StatusOK, code)
	assert.True(t, strings.HasPrefix(body, "frontend /anything "), body)

	delete(resolver, "backend-service")
	code, body, _ = get(t, "/api/healthy")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "503 Service Temporarily Unavailable")

	resolver["backend-service"] = []string{"127.0.0.1:1"}
	code, _, _ = get(t, "/api/healthy")
	assert.Equal(t, http.StatusBadGateway, code, "endpoint refusing connections")
}
