package mirrors

import (
	"net/url"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

// A registry and mirror the checks accept produce a hosts.toml that decodes, whose one host
// table is the mirror, and whose server is the registry's: no name or URL escapes its string.
func FuzzMirrorHostsTOML(f *testing.F) {
	f.Add("docker.io", "https://docker.m.daocloud.io", false)
	f.Add("registry.k8s.io", "http://10.0.0.5:5000/", true)
	f.Add("ghcr.io:443", "https://[2001:db8::1]:5000", false)
	f.Add("x'; reboot; '", "https://m'.example", false)
	f.Add("quay.io", "https://m.example\"]\n[host.\"evil", true)
	f.Fuzz(func(t *testing.T, registry, mirror string, insecure bool) {
		r := Registries{Mirrors: map[string][]string{registry: {mirror}}}
		if insecure {
			r.Insecure = []string{mirror}
		}
		if r.Check() != nil {
			return
		}
		u, err := url.Parse(mirror)
		require.NoError(t, err)
		require.NotContains(t, u.Host, "'")
		data, err := r.HostsTOML(registry)
		require.NoError(t, err)
		var got containerdHosts
		md, err := toml.Decode(string(data), &got)
		require.NoError(t, err, "%s", data)
		require.Empty(t, md.Undecoded())
		require.Equal(t, upstream(registry), got.Server)
		require.Len(t, got.Host, 1)
		host, ok := got.Host[Normal(mirror)]
		require.True(t, ok, "the mirror is the host table: %s", data)
		require.Equal(t, []string{"pull", "resolve"}, host.Capabilities)
		require.Equal(t, insecure, host.SkipVerify != nil && *host.SkipVerify)
		require.Equal(t, registry, RegistryOf(HostsPath(registry)))
	})
}
