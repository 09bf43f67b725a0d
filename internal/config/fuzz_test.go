package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kindstack/kindstack/internal/catalogue"
)

// writable is the part of a Stack that encodes back to the file as written: the components'
// sections and choices are decoded by their own types, the timeout is written as a duration.
func writable(st Stack) Stack {
	st.Timeout, st.Choices, st.Components = nil, nil, nil
	if len(st.Images) == 0 {
		st.Images = nil
	}
	if len(st.RegistryMirrors) == 0 {
		st.RegistryMirrors = nil
	}
	if len(st.InsecureMirrors) == 0 {
		st.InsecureMirrors = nil
	}
	return st
}

// The decoder never panics on any file, and a file it accepts, written back, decodes the same.
func FuzzDecode(f *testing.F) {
	china, err := os.ReadFile("../../embed/configs/china.yaml")
	require.NoError(f, err)
	f.Add(china)
	f.Add([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nname: workshop\nhttpPort: 8080\nimages:\n  nginx:1.27: mirror.example/nginx:1.27\n"))
	f.Add([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nregistryMirrors:\n  docker.io: [\"https://m.example\"]\ninsecureMirrors: [\"https://m.example\"]\n"))
	f.Add([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nexample: false\ningress: traefik\ntimeout: 10m\n"))
	f.Add([]byte("- a\n"))
	comps := catalogue.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Decode(data, comps)
		if err != nil {
			return
		}
		want := writable(*st)
		out, err := yaml.Marshal(&want)
		require.NoError(t, err)
		again, err := Decode(out, comps)
		require.NoError(t, err, "an accepted file, written back, is accepted:\n%s", out)
		require.Equal(t, want, writable(*again))
	})
}

// Whatever the images map holds, the decoder does not panic, and what it accepts are references.
func FuzzImagesMap(f *testing.F) {
	f.Add("nginx:1.27", "mirror.example/nginx:1.27")
	f.Add("registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:0000000000000000000000000000000000000000000000000000000000000000", "localhost:5000/c:v1")
	f.Add("Not A Ref", "x")
	f.Add("busybox", "$(id)")
	comps := catalogue.All()
	f.Fuzz(func(t *testing.T, key, value string) {
		file, err := yaml.Marshal(map[string]any{"apiVersion": APIVersion, "kind": Kind, "images": map[string]string{key: value}})
		require.NoError(t, err)
		st, err := Decode(file, comps)
		if err != nil {
			require.Contains(t, err.Error(), "line ", "every refusal names its line")
			return
		}
		require.Equal(t, map[string]string{key: value}, st.Images)
		s := Defaults().Apply(st)
		require.Equal(t, value, s.Images[key])
	})
}
