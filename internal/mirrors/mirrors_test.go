package mirrors

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/hosts/*.toml from the current output")

func chinaMirrors() Registries {
	return Registries{
		Mirrors: map[string][]string{
			"docker.io":       {"https://docker.m.daocloud.io", "http://10.0.0.5:5000/"},
			"registry.k8s.io": {"https://k8s.m.daocloud.io"},
			"ghcr.io":         {"https://mirror.corp.example:8443"},
		},
		Insecure: []string{"https://mirror.corp.example:8443"},
	}
}

func TestHostsTOMLGolden(t *testing.T) {
	r := chinaMirrors()
	for _, registry := range []string{"docker.io", "registry.k8s.io", "ghcr.io"} {
		t.Run(registry, func(t *testing.T) {
			got, err := r.HostsTOML(registry)
			require.NoError(t, err)
			path := filepath.Join("testdata", "hosts", registry+".toml")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/mirrors -update to create the golden file")
			assert.Equal(t, string(want), string(got))
		})
	}
}

// containerdHosts is the part of containerd's hosts.toml format kindstack writes, as documented
// in containerd's docs/hosts.md.
type containerdHosts struct {
	Server string `toml:"server"`
	Host   map[string]struct {
		Capabilities []string `toml:"capabilities"`
		SkipVerify   *bool    `toml:"skip_verify"`
	} `toml:"host"`
}

func TestHostsTOMLIsWhatContainerdReads(t *testing.T) {
	t.Parallel()
	r := chinaMirrors()
	tests := []struct {
		registry, server string
		hosts            []string // in the order containerd tries them
		insecure         string
	}{
		{"docker.io", "https://registry-1.docker.io", []string{"https://docker.m.daocloud.io", "http://10.0.0.5:5000"}, ""},
		{"registry.k8s.io", "https://registry.k8s.io", []string{"https://k8s.m.daocloud.io"}, ""},
		{"ghcr.io", "https://ghcr.io", []string{"https://mirror.corp.example:8443"}, "https://mirror.corp.example:8443"},
	}
	for _, tt := range tests {
		data, err := r.HostsTOML(tt.registry)
		require.NoError(t, err)
		assert.Regexp(t, "^# Written by kindstack", string(data), "the header marks the file as kindstack's")

		var got containerdHosts
		md, err := toml.Decode(string(data), &got)
		require.NoError(t, err, "valid TOML")
		assert.Empty(t, md.Undecoded(), "nothing containerd would not read")
		assert.Equal(t, tt.server, got.Server, "the registry itself is the fallback")

		var order []string
		for _, k := range md.Keys() {
			if len(k) == 2 && k[0] == "host" {
				order = append(order, k[1])
			}
		}
		assert.Equal(t, tt.hosts, order, "%s: containerd tries the mirrors in the file's order", tt.registry)
		for _, h := range tt.hosts {
			assert.Equal(t, []string{"pull", "resolve"}, got.Host[h].Capabilities)
			if h == tt.insecure {
				require.NotNil(t, got.Host[h].SkipVerify)
				assert.True(t, *got.Host[h].SkipVerify, "an insecure mirror's certificate is not verified")
			} else {
				assert.Nil(t, got.Host[h].SkipVerify, "TLS is verified unless the user said otherwise")
			}
		}
	}
}

func TestHostsFilesOnePerRegistry(t *testing.T) {
	t.Parallel()
	files, err := chinaMirrors().HostsFiles()
	require.NoError(t, err)
	assert.Len(t, files, 3)
	assert.Contains(t, files, "/etc/containerd/certs.d/registry.k8s.io/hosts.toml")
	assert.Equal(t, "ghcr.io", RegistryOf(HostsPath("ghcr.io")))
}

func TestRegistriesCheck(t *testing.T) {
	t.Parallel()
	assert.NoError(t, chinaMirrors().Check())
	err := Registries{
		Mirrors: map[string][]string{
			"https://docker.io": {"https://m.example"},
			"index.docker.io":   {"https://m.example"},
			"quay.io":           {"m.example", "https://m.example/prefix", "ftp://m.example"},
			"gcr.io":            {},
		},
		Insecure: []string{"https://not-listed.example"},
	}.Check()
	require.Error(t, err)
	for _, want := range []string{
		`registry "https://docker.io": write the registry's host name only`,
		`registry "index.docker.io": Docker Hub's images are named docker.io`,
		`mirror "m.example": want a URL such as https://mirror.example.com`,
		`mirror "https://m.example/prefix": want only scheme://host[:port]`,
		`mirror "ftp://m.example": want a URL`,
		"registry gcr.io has no mirrors listed",
		"insecure mirror https://not-listed.example is not one of the registry mirrors",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestMirrorHostsAreHostNamesOrAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mirror string
		want   string // "" = accepted
	}{
		{mirror: "https://mirror.example.com"},
		{mirror: "http://10.0.0.5:5000/"},
		{mirror: "https://[2001:db8::1]:5000"},
		{mirror: "https://Mirror.Example.COM"},
		{mirror: "https://mir'ror.example", want: `mirror "https://mir'ror.example": "mir'ror.example" is neither a host name nor an IP address`},
		{mirror: "https://a$(reboot).example", want: `is neither a host name nor an IP address`},
		{mirror: "https://a%27b.example", want: "want a URL such as https://mirror.example.com"},
		{mirror: "https://under_score.example", want: "is neither a host name nor an IP address"},
		{mirror: "https://m.example:99999", want: `mirror "https://m.example:99999": port "99999" is not a port number (1-65535)`},
		{mirror: "https://m.example:0", want: `port "0" is not a port number`},
		{mirror: "https://m.example:", want: "a colon with no port after it"},
	}
	for _, tt := range tests {
		err := CheckMirrorURL(tt.mirror)
		if tt.want == "" {
			assert.NoError(t, err, tt.mirror)
			continue
		}
		require.Error(t, err, tt.mirror)
		assert.Contains(t, err.Error(), tt.want)
	}
	assert.EqualError(t, CheckRegistry("registry.example:70000"), `registry "registry.example:70000": port "70000" is not a port number (1-65535)`)
	assert.EqualError(t, CheckRegistry("reg'istry.example"), `registry "reg'istry.example" is not a host name (with an optional :port)`)
}

func TestMirroredImage(t *testing.T) {
	t.Parallel()
	const digest = "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
	r := chinaMirrors()
	tests := []struct{ image, want string }{
		{"kindest/node:v1.35.8@" + digest, "docker.m.daocloud.io/kindest/node:v1.35.8@" + digest},
		{"docker.io/library/traefik:v3.7.13", "docker.m.daocloud.io/library/traefik:v3.7.13"},
		{"postgres:17-alpine", "docker.m.daocloud.io/library/postgres:17-alpine"},
		{"index.docker.io/kindest/node:v1.34.11", "docker.m.daocloud.io/kindest/node:v1.34.11"},
		{"registry-1.docker.io/kindest/node:v1.34.11", "docker.m.daocloud.io/kindest/node:v1.34.11"},
		{"registry.k8s.io/metrics-server/metrics-server:v0.8.0@" + digest, "k8s.m.daocloud.io/metrics-server/metrics-server:v0.8.0@" + digest},
	}
	for _, tt := range tests {
		got, ok := r.MirroredImage(tt.image)
		require.True(t, ok, tt.image)
		assert.Equal(t, tt.want, got[0], tt.image)
	}
	got, _ := r.MirroredImage("kindest/node:v1")
	assert.Equal(t, []string{"docker.m.daocloud.io/kindest/node:v1", "10.0.0.5:5000/kindest/node:v1"}, got, "every mirror, in order")
	_, ok := r.MirroredImage("quay.io/x/y:1")
	assert.False(t, ok, "a registry without mirrors")
	_, ok = r.MirroredImage("localhost:5000/x:1")
	assert.False(t, ok)
	_, ok = r.MirroredImage("Not A Reference")
	assert.False(t, ok, "nothing to rewrite")
}
