package cluster

import (
	"context"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// testDigest is a well-formed digest: references pin a sha256 of 64 hex digits.
const testDigest = "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"

func chinaMirrors() mirrors.Registries {
	return mirrors.Registries{
		Mirrors: map[string][]string{
			"docker.io":       {"https://docker.m.daocloud.io", "http://10.0.0.5:5000/"},
			"registry.k8s.io": {"https://k8s.m.daocloud.io"},
			"ghcr.io":         {"https://mirror.corp.example:8443"},
		},
		Insecure: []string{"https://mirror.corp.example:8443"},
	}
}

// criConfig is what `containerd config dump` prints of a node whose CRI plugin reads hosts.toml
// files from certs.d (kindstack's containerdConfigPatch).
const criConfig = `version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
`

// fakeNode plays one node's container behind `docker exec`: it keeps the files written into it
// and every command it was asked to run.
type fakeNode struct {
	files    map[string]string
	config   string
	commands []string // each as "argv..." without "exec <node>"
}

func (f *fakeNode) run(_ context.Context, _ string, args ...string) ([]byte, error) {
	if args[0] == "ps" {
		return []byte("x-control-plane\trunning\n"), nil
	}
	argv := args[2:] // exec <node> ...
	f.commands = append(f.commands, strings.Join(argv, " "))
	switch {
	case argv[0] == "containerd":
		return []byte(f.config), nil
	case argv[0] == "sh" && argv[2] == readHostsScript:
		var b strings.Builder
		for _, p := range sortedKeys(f.files) {
			b.WriteString("==> " + p + "\n" + f.files[p])
		}
		return []byte(b.String()), nil
	case argv[0] == "rm":
		delete(f.files, argv[2])
	case argv[0] == "mv":
		f.files[argv[2]] = f.files[argv[1]]
		delete(f.files, argv[1])
	}
	return nil, nil
}

func (f *fakeNode) runInput(_ context.Context, stdin io.Reader, _ string, args ...string) ([]byte, error) {
	argv := args[3:] // exec -i <node> ...
	f.commands = append(f.commands, strings.Join(argv, " "))
	if argv[0] == "cp" && argv[1] == "/dev/stdin" {
		data, err := io.ReadAll(stdin)
		f.files[argv[2]] = string(data)
		return nil, err
	}
	return nil, nil
}

func TestApplyMirrorsWritesChangesAndRemoves(t *testing.T) {
	t.Parallel()
	node := &fakeNode{files: map[string]string{}, config: criConfig}
	m := &Manager{Run: node.run, RunInput: node.runInput}
	rt := Runtime{Name: "docker", Binary: "docker"}
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}, "registry.k8s.io": {"http://reg:5000"}}}

	change, err := m.ApplyMirrors(context.Background(), rt, "x", r)
	require.NoError(t, err)
	assert.Equal(t, "mirrors for docker.io, registry.k8s.io written", change.String())
	want, err := r.HostsFiles()
	require.NoError(t, err)
	assert.Equal(t, want, node.files, "the node holds exactly the files, whole, under their final names")

	// As the node holds them now: the same settings change nothing.
	node.commands = nil
	change, err = m.ApplyMirrors(context.Background(), rt, "x", r)
	require.NoError(t, err)
	assert.Empty(t, change.String())
	for _, c := range node.commands {
		assert.NotRegexp(t, "^(cp|mv|rm|mkdir) ", c, "nothing written")
	}

	// registry.k8s.io dropped: its file goes, docker.io's stays as it is.
	r2 := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}}}
	change, err = m.ApplyMirrors(context.Background(), rt, "x", r2)
	require.NoError(t, err)
	assert.Equal(t, "mirrors for registry.k8s.io removed", change.String())
	assert.NotContains(t, node.files, "/etc/containerd/certs.d/registry.k8s.io/hosts.toml")
	assert.Contains(t, node.files, "/etc/containerd/certs.d/docker.io/hosts.toml")
}

func TestApplyMirrorsWritesWithoutAShell(t *testing.T) {
	t.Parallel()
	node := &fakeNode{files: map[string]string{}, config: criConfig}
	m := &Manager{Run: node.run, RunInput: node.runInput}
	r := mirrors.Registries{Mirrors: map[string][]string{"ghcr.io:443": {"https://m.example"}}}
	_, err := m.ApplyMirrors(context.Background(), Runtime{Name: "docker", Binary: "docker"}, "x", r)
	require.NoError(t, err)
	file := "/etc/containerd/certs.d/ghcr.io:443/hosts.toml"
	assert.Equal(t, []string{
		"sh -c " + readHostsScript, // reads only: a constant script naming no registry
		"containerd config dump",
		"mkdir -p " + path.Dir(file),
		"cp /dev/stdin " + file + ".tmp",
		"mv " + file + ".tmp " + file,
	}, node.commands, "the registry's name is an argument, never shell text; the content goes on stdin")
}

func TestApplyMirrorsOnAClusterWithoutConfigPath(t *testing.T) {
	t.Parallel()
	node := &fakeNode{files: map[string]string{}, config: "version = 2\n"}
	m := &Manager{Run: node.run, RunInput: node.runInput}
	_, err := m.ApplyMirrors(context.Background(), Runtime{Name: "docker", Binary: "docker"}, "old",
		mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run `kindstack recreate --name old` to use registryMirrors")
	assert.Empty(t, node.files, "nothing written into a containerd that would ignore it")
}

func TestParseHostsDumpReadsWhatTheScriptPrints(t *testing.T) {
	t.Parallel()
	files, err := chinaMirrors().HostsFiles()
	require.NoError(t, err)
	var b strings.Builder
	for _, p := range sortedKeys(files) {
		b.WriteString("==> " + p + "\n" + files[p])
	}
	assert.Equal(t, files, parseHostsDump(b.String()))
}

// ApplyMirrors and Ensure are entry points of their own: a registry name that is no host name
// never reaches a node, whoever the caller is.
func TestMirrorEntryPointsRefuseWhatIsNoRegistry(t *testing.T) {
	t.Parallel()
	ran := 0
	m := testManager(t, nil, fakeRuntime{}, &fakeProvider{clusters: []string{"kindstack"}}, nil)
	m.Run = func(context.Context, string, ...string) ([]byte, error) { ran++; return nil, nil }
	bad := mirrors.Registries{Mirrors: map[string][]string{"x'; reboot; '": {"https://m.example"}}}
	rt := Runtime{Name: "docker", Binary: "docker"}

	_, err := m.ApplyMirrors(context.Background(), rt, "kindstack", bad)
	require.Error(t, err)
	assert.Equal(t, `registry mirrors: registry "x'; reboot; '" is not a host name (with an optional :port)`, err.Error())
	_, err = m.Ensure(context.Background(), EnsureOptions{Spec: Spec{Name: "kindstack"}, Runtime: rt, Registries: bad, Kubeconfig: t.TempDir() + "/config"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `registry "x'; reboot; '" is not a host name`)
	_, err = m.ApplyMirrors(context.Background(), rt, "../kindstack", mirrors.Registries{})
	assert.ErrorContains(t, err, `cluster name "../kindstack" is invalid`)
	assert.Zero(t, ran, "nothing ran in any node")
}
