package imageref

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const digest = "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"

func TestParseSpellsEveryForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                                        string
		want                                      Ref
		normalized, digestName, familiar, apiHost string
	}{
		{
			in:         "postgres:17-alpine",
			want:       Ref{Registry: "docker.io", Repository: "library/postgres", Tag: "17-alpine"},
			normalized: "docker.io/library/postgres:17-alpine", familiar: "postgres:17-alpine", apiHost: "registry-1.docker.io",
		},
		{
			in:         "busybox",
			want:       Ref{Registry: "docker.io", Repository: "library/busybox"},
			normalized: "docker.io/library/busybox:latest", familiar: "busybox", apiHost: "registry-1.docker.io",
		},
		{
			in:         "lyzhang1999/backend:latest",
			want:       Ref{Registry: "docker.io", Repository: "lyzhang1999/backend", Tag: "latest"},
			normalized: "docker.io/lyzhang1999/backend:latest", familiar: "lyzhang1999/backend:latest", apiHost: "registry-1.docker.io",
		},
		{
			in:         "index.docker.io/library/traefik:v3",
			want:       Ref{Registry: "docker.io", Repository: "library/traefik", Tag: "v3"},
			normalized: "docker.io/library/traefik:v3", familiar: "traefik:v3", apiHost: "registry-1.docker.io",
		},
		{
			in:         "registry-1.docker.io/kindest/node:v1.35.8",
			want:       Ref{Registry: "docker.io", Repository: "kindest/node", Tag: "v1.35.8"},
			normalized: "docker.io/kindest/node:v1.35.8", familiar: "kindest/node:v1.35.8", apiHost: "registry-1.docker.io",
		},
		{
			in:         "localhost:5001/app:dev",
			want:       Ref{Registry: "localhost:5001", Repository: "app", Tag: "dev"},
			normalized: "localhost:5001/app:dev", familiar: "localhost:5001/app:dev", apiHost: "localhost:5001",
		},
		{
			in:         "localhost/app",
			want:       Ref{Registry: "localhost", Repository: "app"},
			normalized: "localhost/app:latest", familiar: "localhost/app", apiHost: "localhost",
		},
		{
			in:         "mirror.corp.example:8443/team/tools/app:1.2",
			want:       Ref{Registry: "mirror.corp.example:8443", Repository: "team/tools/app", Tag: "1.2"},
			normalized: "mirror.corp.example:8443/team/tools/app:1.2", familiar: "mirror.corp.example:8443/team/tools/app:1.2", apiHost: "mirror.corp.example:8443",
		},
		{
			in:         "kindest/node:v1.35.8@" + digest,
			want:       Ref{Registry: "docker.io", Repository: "kindest/node", Tag: "v1.35.8", Digest: digest},
			normalized: "docker.io/kindest/node:v1.35.8@" + digest, digestName: "docker.io/kindest/node@" + digest,
			familiar: "kindest/node:v1.35.8@" + digest, apiHost: "registry-1.docker.io",
		},
		{
			in:         "registry.k8s.io/pause@" + digest,
			want:       Ref{Registry: "registry.k8s.io", Repository: "pause", Digest: digest},
			normalized: "registry.k8s.io/pause@" + digest, digestName: "registry.k8s.io/pause@" + digest,
			familiar: "registry.k8s.io/pause@" + digest, apiHost: "registry.k8s.io",
		},
		{
			in:         "localhost:5000/x:1@" + digest,
			want:       Ref{Registry: "localhost:5000", Repository: "x", Tag: "1", Digest: digest},
			normalized: "localhost:5000/x:1@" + digest, digestName: "localhost:5000/x@" + digest,
			familiar: "localhost:5000/x:1@" + digest, apiHost: "localhost:5000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
			assert.Equal(t, tt.normalized, r.Normalized(), "the name containerd keeps it under")
			assert.Equal(t, tt.digestName, r.DigestName(), "the name a pinned reference resolves by")
			assert.Equal(t, tt.familiar, r.Familiar())
			assert.Equal(t, tt.apiHost, r.APIHost())
			again, err := Parse(r.Normalized())
			require.NoError(t, err)
			assert.Equal(t, r.Normalized(), again.Normalized(), "the normalized form reads back as itself")
		})
	}
}

func TestParseRefusesWhatIsNoReference(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"Postgres:17",                        // repositories are lower case
		"postgres:",                          // a colon without a tag
		"https://docker.io/library/postgres", // a URL, not a reference
		"postgres@sha256:abc",                // a digest that is no sha256
		"a b",
	} {
		_, err := Parse(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestTagNameIdentifierAndMirror(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, tagName, identifier, onMirror string }{
		{"busybox", "docker.io/library/busybox:latest", "latest", "m.example/library/busybox"},
		{"postgres:17", "docker.io/library/postgres:17", "17", "m.example/library/postgres:17"},
		{"kindest/node:v1@" + digest, "docker.io/kindest/node:v1", digest, "m.example/kindest/node:v1@" + digest},
		{"registry.k8s.io/pause@" + digest, "registry.k8s.io/pause:latest", digest, "m.example/pause@" + digest},
	}
	for _, tt := range tests {
		r, err := Parse(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.tagName, r.TagName(), tt.in)
		assert.Equal(t, tt.identifier, r.Identifier(), "what the registry's manifests endpoint is asked for")
		assert.Equal(t, tt.onMirror, r.On("m.example").String(), "a mirror keeps path, tag and digest")
	}
}

func TestReferenceFetchesByDigestWhenPinned(t *testing.T) {
	t.Parallel()
	r, err := Parse("localhost:5000/x:1@" + digest)
	require.NoError(t, err)
	ref, err := r.Reference(name.Insecure)
	require.NoError(t, err)
	assert.Equal(t, "localhost:5000/x@"+digest, ref.Name(), "the digest alone says what to fetch")
	assert.Equal(t, "http", ref.Context().Scheme())

	r, err = Parse("postgres")
	require.NoError(t, err)
	ref, err = r.Reference()
	require.NoError(t, err)
	assert.Equal(t, "index.docker.io/library/postgres:latest", ref.Name())
}

// FuzzParse found these: a Docker Hub path that no longer reads as itself once docker.io is left out.
func TestFamiliarKeepsTheRegistryWhenTheShortFormWouldReadOtherwise(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"docker.io/./", "docker.io/localhost/x:1"} {
		r, err := Parse(s)
		require.NoError(t, err)
		back, err := Parse(r.Familiar())
		require.NoError(t, err, "%s → %s", s, r.Familiar())
		assert.Equal(t, r, back, "%s → %s", s, r.Familiar())
	}
}
