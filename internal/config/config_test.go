package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/internal/catalogue"
	"github.com/kindstack/kindstack/internal/mirrors"
	"github.com/kindstack/kindstack/workloads"
)

// decode decodes a file for kindstack's components, whose fields of the file are theirs.
func decode(data []byte) (*Stack, error) { return Decode(data, catalogue.All()) }

func TestDecodeValidFile(t *testing.T) {
	t.Parallel()
	st, err := decode([]byte(`apiVersion: kindstack.dev/v1alpha1
kind: Stack
name: workshop
nodeImage: kindest/node:v1.34.11
listenAddress: 0.0.0.0
httpPort: 8080
httpsPort: 8443
workers: 2
timeout: 20m
example: false
retain: true
images:
  registry.k8s.io/ingress-nginx/controller:v1.15.1: mirror.local/controller:v1.15.1
wait: false
ingress: traefik
exampleRoute: httproute
gatewayPorts: [8080, 8090]
preload: false
registryMirrors:
  docker.io:
    - https://docker.m.daocloud.io
    - http://10.0.0.5:5000
  registry.k8s.io: [https://k8s.m.daocloud.io]
insecureMirrors: [http://10.0.0.5:5000]
`))
	require.NoError(t, err)
	got := Defaults().Apply(st)
	off := false
	assert.Equal(t, Settings{
		Name: "workshop", NodeImage: "kindest/node:v1.34.11", ListenAddress: "0.0.0.0",
		HTTPPort: 8080, HTTPSPort: 8443, Workers: 2, Timeout: 20 * time.Minute, StatusTimeout: 30 * time.Second, Retain: true,
		Images:  map[string]string{"registry.k8s.io/ingress-nginx/controller:v1.15.1": "mirror.local/controller:v1.15.1"},
		Choices: map[string]string{"ingress": "traefik"},
		Components: map[string]ComponentSettings{
			"example": {Enabled: &off, Options: &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}},
			"traefik": {Options: &addons.TraefikOptions{GatewayPorts: []int{8080, 8090}}},
		},
		Registries: mirrors.Registries{
			Mirrors:  map[string][]string{"docker.io": {"https://docker.m.daocloud.io", "http://10.0.0.5:5000"}, "registry.k8s.io": {"https://k8s.m.daocloud.io"}},
			Insecure: []string{"http://10.0.0.5:5000"},
		},
	}, got)
	require.NoError(t, got.Check())
}

func TestDecodeRegistryMirrorsNamesEachBadEntry(t *testing.T) {
	t.Parallel()
	_, err := decode([]byte(`apiVersion: kindstack.dev/v1alpha1
kind: Stack
registryMirrors:
  https://docker.io: [https://m.example]
  quay.io:
    - m.example
  gcr.io: []
  ghcr.io: https://m.example
insecureMirrors: [https://m.example/path]
`))
	require.Error(t, err)
	for _, want := range []string{
		`line 4: registryMirrors: registry "https://docker.io": write the registry's host name only`,
		`line 6: registryMirrors: quay.io: mirror "m.example": want a URL such as https://mirror.example.com`,
		`line 7: registryMirrors: gcr.io: the list of mirrors is empty`,
		`line 8: registryMirrors: ghcr.io: want a list of URLs, got the string "https://m.example"`,
		`line 9: field "insecureMirrors": mirror "https://m.example/path": want only scheme://host[:port]`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestComponentSectionsAreDecodedStrictlyIntoTheirOwnTypes(t *testing.T) {
	t.Parallel()
	st, err := decode([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nexample:\n  route: httproute\ntraefik:\n  gatewayPorts: [8080]\n"))
	require.NoError(t, err)
	s := Defaults().Apply(st)
	assert.Equal(t, &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}, s.Components["example"].Options)
	assert.True(t, s.Enabled("example"), "a section switches nothing off")
	assert.Equal(t, &addons.TraefikOptions{GatewayPorts: []int{8080}}, s.Components["traefik"].Options)

	_, err = decode([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nexample:\n  rout: httproute\n  route: 5\ntraefik: true\nmetrics-server: {}\n"))
	require.Error(t, err)
	for _, want := range []string{
		`line 4: unknown field "rout" (did you mean "route"?)`,
		`line 5: field "route": want a string, got the integer 5`,
		`line 6: field "traefik": want a mapping of traefik's options, got true`,
		`line 7: unknown field "metrics-server"`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestSetOptionDecodesAFlagLikeTheFile(t *testing.T) {
	t.Parallel()
	s, err := Defaults().SetOption(workloads.Example(), "route", "httproute")
	require.NoError(t, err)
	assert.Equal(t, &workloads.ExampleOptions{Route: workloads.RouteHTTPRoute}, s.Components["example"].Options)
	_, err = Defaults().SetOption(workloads.Example(), "route", "grpc")
	assert.ErrorContains(t, err, `unknown route "grpc": want ingress or httproute`)
	s, err = Defaults().SetOption(addons.Traefik(), "gatewayPorts", "[8080, 80]")
	assert.ErrorContains(t, err, "port 80 is already the web entrypoint")
	assert.Nil(t, s.Components, "a refused value changes nothing")
}

func TestDecodeMinimalFileKeepsDefaults(t *testing.T) {
	t.Parallel()
	st, err := decode([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n"))
	require.NoError(t, err)
	assert.Equal(t, Defaults(), Defaults().Apply(st))
}

func TestDecodeStrictErrorsNameFieldAndLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown field with suggestion",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nhttpport: 80\n",
			want: []string{`line 3: unknown field "httpport" (did you mean "httpPort"?)`},
		},
		{
			name: "unknown ingress controller",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\ningress: contour\n",
			want: []string{`line 3: field "ingress": unknown ingress "contour": want nginx or traefik`},
		},
		{
			name: "gateway ports",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\ngatewayPorts: [8080, 80, 8080, 70000]\n",
			want: []string{`line 3: field "gatewayPorts": gatewayPorts: port 80 is already the web entrypoint`, "port 8080 is listed twice", "port 70000 is not between 1 and 65535"},
		},
		{
			name: "wrong type for port",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nname: x\nhttpPort: eighty\n",
			want: []string{`line 4: field "httpPort": want an integer, got the string "eighty"`},
		},
		{
			name: "quoted number is still a string",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nhttpsPort: \"443\"\n",
			want: []string{`line 3: field "httpsPort": want an integer, got the string "443"`},
		},
		{
			name: "worker count in words",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nworkers: two\n",
			want: []string{`line 3: field "workers": want an integer, got the string "two"`},
		},
		{
			name: "bad duration",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\ntimeout: 10 minutes\n",
			want: []string{`line 3: field "timeout": want a positive duration such as "10m", got "10 minutes"`},
		},
		{
			name: "bool field given a string",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n\nexample: \"no\"\n",
			want: []string{`line 4: field "example": want true, false or a mapping of example's options, got the string "no"`},
		},
		{
			name: "images must be a map",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nimages:\n  - a\n",
			want: []string{`line 4: field "images": want a map of upstream image to replacement, got a list`},
		},
		{
			name: "images are image references on both sides",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nimages:\n  \"nginx:1.27\": \"mirror.example/nginx:1.27\"\n  \"Not A Ref\": nginx\n  busybox: \"mirror.example/busybox:$(id)\"\n",
			want: []string{`line 5: images: key "Not A Ref" is not an image reference (like registry.k8s.io/pause:3.10)`,
				`line 6: images: "busybox" is replaced by "mirror.example/busybox:$(id)", which is not an image reference (like mirror.example.com/pause:3.10)`},
		},
		{
			name: "every problem reported at once",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nnmae: x\nhttpPort: true\nbogus: 1\n",
			want: []string{`line 3: unknown field "nmae" (did you mean "name"?)`, `line 4: field "httpPort": want an integer, got true`, `line 5: unknown field "bogus"`},
		},
		{
			name: "wrong apiVersion",
			yaml: "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n",
			want: []string{`line 1: apiVersion "kind.x-k8s.io/v1alpha4" is not supported; want kindstack.dev/v1alpha1`, `line 2: kind "Cluster" is not supported; want Stack`},
		},
		{
			name: "missing apiVersion and kind",
			yaml: "name: x\n",
			want: []string{`field "apiVersion" is missing`, `field "kind" is missing`},
		},
		{
			name: "duplicate field",
			yaml: "apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nname: a\nname: b\n",
			want: []string{`line 4: field "name" repeats line 3`},
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: []string{`line 1: want a mapping (apiVersion, kind, ...), got a list`},
		},
		{
			name: "empty",
			yaml: "\n",
			want: []string{"file is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := decode([]byte(tt.yaml))
			require.Error(t, err)
			assert.Nil(t, st)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kindstack.yaml")
	require.NoError(t, os.WriteFile(path, []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\nport: 1\n"), 0o600))
	_, err := Load(path, catalogue.All())
	require.Error(t, err)
	assert.Equal(t, "config file "+path+`: line 3: unknown field "port"`, err.Error())

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"), catalogue.All())
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTheShippedChinaConfigIsValid(t *testing.T) {
	t.Parallel()
	st, err := Load(filepath.Join("..", "..", "embed", "configs", "china.yaml"), catalogue.All())
	require.NoError(t, err)
	s := Defaults().Apply(st)
	require.NoError(t, s.Check())
	for _, registry := range []string{"docker.io", "registry.k8s.io"} {
		assert.NotEmpty(t, s.Registries.Mirrors[registry], "the registries kindstack's images come from have a mirror: %s", registry)
	}
	mirrored, ok := s.Registries.MirroredImage(s.NodeImage)
	require.True(t, ok, "the node image goes through the docker.io mirror")
	assert.Equal(t, "docker.m.daocloud.io/"+s.NodeImage, mirrored[0])
}
