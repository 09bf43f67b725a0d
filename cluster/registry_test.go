package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/mirrors"
	"github.com/kindstack/kindstack/internal/nodeimage"
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

// fakeNodeShell plays the node's `sh -c`: it keeps the files the scripts write.
type fakeNodeShell struct {
	files   map[string]string
	config  string
	scripts []string
}

func (f *fakeNodeShell) run(_ context.Context, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(args, " ")
	switch {
	case strings.HasPrefix(cmd, "ps "):
		return []byte("x-control-plane\trunning\n"), nil
	case strings.Contains(cmd, "containerd config dump"):
		return []byte(f.config), nil
	case strings.Contains(cmd, "==> "):
		var b strings.Builder
		for _, p := range sortedKeys(f.files) {
			b.WriteString("==> " + p + "\n" + f.files[p])
		}
		return []byte(b.String()), nil
	}
	script := args[len(args)-1]
	f.scripts = append(f.scripts, script)
	lines := strings.Split(script, "\n")
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "rm -f '"); ok {
			delete(f.files, strings.TrimSuffix(p, "'"))
		}
		if strings.HasPrefix(l, "mv ") {
			fields := strings.Fields(l)
			path := strings.Trim(fields[2], "'")
			f.files[path] = "written"
		}
	}
	return nil, nil
}

func TestApplyMirrorsWritesChangesAndRemoves(t *testing.T) {
	t.Parallel()
	node := &fakeNodeShell{files: map[string]string{}, config: `config_path = "/etc/containerd/certs.d"`}
	m := &Manager{Run: node.run}
	rt := Runtime{Name: "docker", Binary: "docker"}
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}, "registry.k8s.io": {"http://reg:5000"}}}

	change, err := m.ApplyMirrors(context.Background(), rt, "x", r)
	require.NoError(t, err)
	assert.Equal(t, "mirrors for docker.io, registry.k8s.io written", change.String())
	assert.Contains(t, node.files, "/etc/containerd/certs.d/docker.io/hosts.toml")

	// As the node holds them now: the same settings change nothing.
	node.files, _ = r.HostsFiles()
	node.scripts = nil
	change, err = m.ApplyMirrors(context.Background(), rt, "x", r)
	require.NoError(t, err)
	assert.Empty(t, change.String())
	assert.Empty(t, node.scripts, "nothing written")

	// registry.k8s.io dropped: its file goes, docker.io's stays as it is.
	r2 := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}}}
	change, err = m.ApplyMirrors(context.Background(), rt, "x", r2)
	require.NoError(t, err)
	assert.Equal(t, "mirrors for registry.k8s.io removed", change.String())
	assert.NotContains(t, node.files, "/etc/containerd/certs.d/registry.k8s.io/hosts.toml")
	assert.Contains(t, node.files, "/etc/containerd/certs.d/docker.io/hosts.toml")
}

func TestApplyMirrorsOnAClusterWithoutConfigPath(t *testing.T) {
	t.Parallel()
	node := &fakeNodeShell{files: map[string]string{}, config: "version = 2\n"}
	m := &Manager{Run: node.run}
	_, err := m.ApplyMirrors(context.Background(), Runtime{Name: "docker", Binary: "docker"}, "old",
		mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"http://reg:5000"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run `kindstack recreate --name old` to use registryMirrors")
	assert.Empty(t, node.scripts, "nothing written into a containerd that would ignore it")
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

func TestContainerdNameAndSnapshotter(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "docker.io/library/busybox:latest", ContainerdName("busybox"))
	assert.Equal(t, "docker.io/lyzhang1999/backend:latest", ContainerdName("lyzhang1999/backend:latest"))
	assert.Equal(t, "docker.io/library/traefik@"+testDigest, ContainerdName("docker.io/library/traefik:v3.7.13@"+testDigest))
	assert.Equal(t, "localhost:5000/x:latest", ContainerdName("localhost:5000/x"))
	assert.Equal(t, "localhost/x:1", ContainerdName("localhost/x:1"), "localhost is a registry, not a Docker Hub user")

	v2 := "version = 2\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n      snapshotter = \"overlayfs\"\n"
	s, err := snapshotterOf(v2)
	require.NoError(t, err)
	assert.Equal(t, "overlayfs", s)
	v3 := "version = 3\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"native\"\n"
	s, err = snapshotterOf(v3)
	require.NoError(t, err)
	assert.Equal(t, "native", s)
	_, err = snapshotterOf("version = 2\n")
	assert.ErrorContains(t, err, "names no CRI snapshotter")
}

func TestNodeImageIsPulledThroughTheMirrorsWhenTheEngineLacksIt(t *testing.T) {
	t.Parallel()
	const node = nodeimage.Default
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"https://down.example", "https://docker.m.daocloud.io"}}}
	var calls []string
	have := map[string]bool{}
	m := &Manager{StateDir: t.TempDir(), Run: func(_ context.Context, _ string, args ...string) ([]byte, error) {
		calls = append(calls, strings.Join(args, " "))
		ref := args[len(args)-1]
		switch args[0] {
		case "image":
			if have[ref] {
				return []byte("sha256:id\n"), nil
			}
			return []byte("Error: No such image: " + ref), errors.New("exit status 1")
		case "pull":
			if strings.HasPrefix(ref, "docker.m.daocloud.io/") {
				have[ref] = true
				return nil, nil
			}
			return []byte("Error response from daemon: Get \"https://down.example/v2/\": dial tcp: i/o timeout"), errors.New("exit status 1")
		}
		return nil, errors.New("unexpected")
	}}
	rt := Runtime{Name: "docker", Binary: "docker"}
	got, err := m.nodeImage(context.Background(), rt, node, r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, "docker.m.daocloud.io/"+nodeimage.Default, got, "the second mirror, digest kept")
	assert.Contains(t, calls, "pull down.example/"+nodeimage.Default, "the first mirror was tried first")

	have[node] = true
	got, err = m.nodeImage(context.Background(), rt, node, r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, node, got, "an engine that has it: no pull, no rewrite")

	got, err = m.nodeImage(context.Background(), rt, "quay.io/x/node:v1", r, func(string, ...any) {})
	require.NoError(t, err)
	assert.Equal(t, "quay.io/x/node:v1", got, "no mirror for its registry: kind pulls it as named")
}
