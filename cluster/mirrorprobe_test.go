package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/mirrors"
)

func TestProbeMirrorsWarnsOnlyForSilentMirrors(t *testing.T) {
	t.Parallel()
	answering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer answering.Close()
	silent := httptest.NewServer(http.NotFoundHandler())
	silent.Close() // nothing listens there any more
	warnings := ProbeMirrors(context.Background(), mirrors.Registries{Mirrors: map[string][]string{
		"docker.io": {answering.URL, silent.URL}, "quay.io": {silent.URL},
	}})
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "registry mirror "+silent.URL+" (for docker.io, quay.io) does not answer")
}

func TestMirrorVerdictAsksEachMirrorFromTheNode(t *testing.T) {
	t.Parallel()
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://a:5000", "https://b.example"}}, Insecure: []string{"https://b.example"}}
	answers := map[string]string{}
	var asked []string
	m := &Manager{Run: func(_ context.Context, _ string, args ...string) ([]byte, error) {
		if args[0] == "ps" {
			return []byte("kindstack-control-plane\trunning\n"), nil
		}
		u := args[len(args)-1]
		asked = append(asked, strings.Join(args[:2], " ")+" "+u+map[bool]string{true: " -k"}[strings.Contains(strings.Join(args, " "), " -k ")])
		return []byte(answers[u]), nil
	}}
	rt := Runtime{Name: "docker", Binary: "docker"}

	answers["http://a:5000/v2/library/app/manifests/v1?ns=docker.io"] = "404"
	answers["https://b.example/v2/library/app/manifests/v1?ns=docker.io"] = "404"
	got := m.MirrorVerdict(context.Background(), rt, "kindstack", r, "app:v1")
	assert.Equal(t, "not on mirror http://a:5000 (HTTP 404), not on mirror https://b.example (HTTP 404), and docker.io itself did not serve it", got)
	assert.Equal(t, []string{
		"exec kindstack-control-plane http://a:5000/v2/library/app/manifests/v1?ns=docker.io",
		"exec kindstack-control-plane https://b.example/v2/library/app/manifests/v1?ns=docker.io -k",
	}, asked, "from inside the node, the insecure mirror without TLS verification")

	answers["https://b.example/v2/library/app/manifests/v1?ns=docker.io"] = "200"
	assert.Empty(t, m.MirrorVerdict(context.Background(), rt, "kindstack", r, "app:v1"), "a mirror that has it: the pull is slow, not hopeless")
	answers["https://b.example/v2/library/app/manifests/v1?ns=docker.io"] = "000"
	assert.Empty(t, m.MirrorVerdict(context.Background(), rt, "kindstack", r, "app:v1"), "a mirror that does not answer may answer later")
	assert.Empty(t, m.MirrorVerdict(context.Background(), rt, "kindstack", r, "quay.io/x/y:1"), "no mirror for that registry: no opinion")

	// A pinned image is asked for by its digest, under its full repository path.
	answers["http://a:5000/v2/library/traefik/manifests/"+testDigest+"?ns=docker.io"] = "404"
	answers["https://b.example/v2/library/traefik/manifests/"+testDigest+"?ns=docker.io"] = "404"
	assert.NotEmpty(t, m.MirrorVerdict(context.Background(), rt, "kindstack", r, "traefik:v3.7.13@"+testDigest))
}
