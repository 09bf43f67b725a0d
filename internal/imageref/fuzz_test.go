package imageref

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A reference Parse accepts is spelled by String in a form Parse reads back to the same Ref, and
// so are its Familiar and Normalized forms.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"postgres:17", "busybox", "docker.io/library/busybox:latest", "index.docker.io/x/y:1",
		"localhost:5000/app:dev", "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
		"ghcr.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000", "[::1]:5000/x:y", "a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		require.NoError(t, err, "String of %q is %q", s, r.String())
		require.Equal(t, r, again, "String of %q is %q", s, r.String())
		fam, err := Parse(r.Familiar())
		require.NoError(t, err, "Familiar of %q is %q", s, r.Familiar())
		require.Equal(t, r, fam)
		norm, err := Parse(r.Normalized())
		require.NoError(t, err)
		require.Equal(t, r.Normalized(), norm.Normalized())
	})
}
