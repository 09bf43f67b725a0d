package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kinderrors "sigs.k8s.io/kind/pkg/errors"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	"sigs.k8s.io/kind/pkg/log"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string // "" = valid
	}{
		{"kindstack", ""},
		{"dev-1", ""},
		{"a.b", ""},
		{"0", ""},
		{strings.Repeat("a", 50), ""},
		{"", "the cluster name is empty"},
		{strings.Repeat("a", 51), "is 51 characters long; kind allows at most 50"},
		{"Kindstack", "is invalid: use lowercase letters"},
		{"my_cluster", "is invalid"},
		{"-dev", "is invalid"},
		{"dev-", "is invalid"},
		{"dev cluster", "is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateName(tt.name)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestCheckPortFindsARealListener(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	err = CheckPort(net.Listen, "127.0.0.1", PortCheck{Port: busy, Flag: "--http-port"})
	require.Error(t, err)
	assert.Equal(t, "port "+strconv.Itoa(busy)+" on 127.0.0.1 is already in use by another program; stop it or choose another port with --http-port", err.Error())

	// Binding every interface conflicts with a loopback listener too.
	assert.Error(t, CheckPort(net.Listen, "0.0.0.0", PortCheck{Port: busy, Flag: "--http-port"}))

	free := freePort(t)
	assert.NoError(t, CheckPort(net.Listen, "127.0.0.1", PortCheck{Port: free, Flag: "--https-port"}))
	assert.ErrorContains(t, CheckPort(net.Listen, "127.0.0.1", PortCheck{Port: 70000, Flag: "--https-port"}), "port 70000 (--https-port) is not a valid TCP port")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return p
}

// fakeRuntime answers `<bin> -v` and `<bin> info` like an installed runtime would.
type fakeRuntime struct {
	installed map[string]string // binary -> `-v` output
	engineUp  bool
}

func (f fakeRuntime) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	v, ok := f.installed[name]
	if !ok {
		return nil, errors.New("exec: \"" + name + "\": executable file not found in $PATH")
	}
	if len(args) > 0 && (args[0] == "info" || args[0] == "version") { // asks the engine
		if !f.engineUp {
			return []byte("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"), errors.New("exit status 1")
		}
		return []byte("28.2.2\n"), nil
	}
	return []byte(v + "\n"), nil
}

// fakeProvider stands in for kind only where no cluster is created: listing, kubeconfig, delete.
type fakeProvider struct {
	clusters    []string
	deleted     []string
	kubeconfigs int // calls of KubeConfig
}

func (f *fakeProvider) Create(string, ...kindcluster.CreateOption) error {
	return errors.New("the unit tier never creates clusters")
}
func (f *fakeProvider) Delete(name, _ string) error { f.deleted = append(f.deleted, name); return nil }
func (f *fakeProvider) List() ([]string, error)     { return f.clusters, nil }
func (f *fakeProvider) CollectLogs(name, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "kind-version.txt"), []byte("kind v0.33.0"), 0o644)
}
func (f *fakeProvider) KubeConfig(name string, _ bool) (string, error) {
	f.kubeconfigs++
	return string(kindKubeconfig(name, "https://127.0.0.1:1")), nil
}

func testManager(t *testing.T, env map[string]string, rt fakeRuntime, p *fakeProvider, client kubernetes.Interface) *Manager {
	return &Manager{
		Version:     "test",
		LockDir:     t.TempDir(),
		StateDir:    t.TempDir(),
		Getenv:      func(k string) string { return env[k] },
		Run:         rt.run,
		Listen:      net.Listen,
		CgroupV2:    func() bool { return true },
		NewProvider: func(Runtime, log.Logger) Provider { return p },
		NewClient:   func([]byte) (kubernetes.Interface, error) { return client, nil },
		// The unit tier has no network: no registry answers unless a test says so.
		ProbeRegistry: func(context.Context, string) error { return errors.New("no network in the unit tier") },
		Geteuid:       func() int { return 0 },
	}
}

var dockerOnly = map[string]string{"docker": "Docker version 28.2.2, build e6534b4"}

func TestDetectRuntime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       string
		installed map[string]string
		want      string
		wantErr   string
		wantWarn  string
	}{
		{name: "docker first", installed: map[string]string{"docker": "Docker version 28", "podman": "podman version 5.0.0"}, want: "docker"},
		{name: "podman when no docker", installed: map[string]string{"podman": "podman version 5.0.0"}, want: "podman"},
		{name: "finch", installed: map[string]string{"finch": "finch version v1.2.0"}, want: "finch"},
		{name: "docker shim that is not docker", installed: map[string]string{"docker": "podman version 5.0.0"}, wantErr: "no container runtime found"},
		{name: "nothing", wantErr: "no container runtime found: install Docker (or Podman, nerdctl), or set KIND_EXPERIMENTAL_PROVIDER"},
		{name: "env forces podman", env: "podman", installed: map[string]string{"docker": "Docker version 28", "podman": "podman version 5"}, want: "podman"},
		{name: "env names a missing runtime", env: "podman", installed: dockerOnly, wantErr: `KIND_EXPERIMENTAL_PROVIDER=podman but "podman" is not installed or does not run (podman -v failed)`},
		{name: "unknown env value is ignored with a warning", env: "lxc", installed: dockerOnly, want: "docker", wantWarn: `ignoring unknown value "lxc" for KIND_EXPERIMENTAL_PROVIDER`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var warned string
			rt, err := DetectRuntime(context.Background(), func(k string) string {
				if k == ExperimentalProviderEnv {
					return tt.env
				}
				return ""
			}, fakeRuntime{installed: tt.installed}.run, func(s string) { warned = s })
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, rt.Name)
			assert.Contains(t, warned, tt.wantWarn)
		})
	}
}

func TestPingCatchesAClientWithoutEngine(t *testing.T) {
	t.Parallel()
	_, err := Ping(context.Background(), fakeRuntime{installed: dockerOnly}.run, Runtime{Name: "docker", Binary: "docker"})
	require.Error(t, err)
	assert.Equal(t, "docker is installed but its engine does not answer (`docker version`: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)", err.Error())

	v, err := Ping(context.Background(), fakeRuntime{installed: dockerOnly, engineUp: true}.run, Runtime{Name: "docker", Binary: "docker"})
	require.NoError(t, err)
	assert.Equal(t, "28.2.2", v)
}

// TestPingNamesAnUnreachableDockerEngine runs every real docker client on PATH (Debian's 20.10
// prints only a template error for `info --format` here; newer ones do not): with DOCKER_HOST at a
// socket nobody serves, the user must read docker's own "cannot connect" sentence.
func TestPingNamesAnUnreachableDockerEngine(t *testing.T) {
	clients := dockerClients(os.Getenv("PATH"))
	if len(clients) == 0 {
		t.Skip("SKIPPED LOUDLY: no docker client on PATH; Ping's message for an unreachable engine is not checked against a real client")
	}
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("HOME", t.TempDir()) // a user without ~/.docker
	for _, bin := range clients {
		t.Run(bin, func(t *testing.T) {
			_, err := Ping(context.Background(), ExecCommand, Runtime{Name: "docker", Binary: bin})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "docker is installed but its engine does not answer")
			assert.Contains(t, err.Error(), "Cannot connect to the Docker daemon at unix://"+sock)
		})
	}
}

// dockerClients lists each distinct docker executable in the directories of path.
func dockerClients(path string) []string {
	var out []string
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(path) {
		bin := filepath.Join(dir, "docker")
		real, err := filepath.EvalSymlinks(bin)
		if err != nil || seen[real] {
			continue
		}
		if fi, err := os.Stat(real); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		seen[real] = true
		out = append(out, bin)
	}
	return out
}

func TestPreflightReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	m := testManager(t, nil, fakeRuntime{installed: dockerOnly}, &fakeProvider{}, nil)
	_, err = m.Preflight(context.Background(), PreflightOptions{
		Spec:      Spec{Name: "Bad_Name", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: busy, HTTPSPort: freePort(t)},
		ConfigErr: errors.New("config file k.yaml: line 3: unknown field \"nmae\"\nline 4: field \"httpPort\": want an integer"),
	})
	var pe *PreflightError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Problems, 4, err.Error())
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "preflight found 4 problems:\n  - config file k.yaml: line 3: unknown field \"nmae\"\n    line 4: field"), msg)
	assert.Contains(t, msg, `cluster name "Bad_Name" is invalid`)
	assert.Contains(t, msg, "docker is installed but its engine does not answer")
	assert.Contains(t, msg, "port "+strconv.Itoa(busy)+" on 127.0.0.1 is already in use")
}

func TestPreflightPassesAndSkipsPortsOfAnExistingCluster(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port

	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{clusters: []string{"kindstack"}}, nil)
	rep, err := m.Preflight(context.Background(), PreflightOptions{
		Spec: Spec{Name: "kindstack", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: busy, HTTPSPort: busy + 1},
	})
	require.NoError(t, err, "the ports of an existing cluster are its own")
	assert.True(t, rep.Exists)
	assert.Equal(t, "docker", rep.Runtime.Name)
	assert.Equal(t, "28.2.2", rep.EngineVersion)
}

// recreate deletes the old cluster only after preflight: new ports must be free now, the old
// cluster's own ports will be.
func TestPreflightForRecreateChecksTheNewPortsBeforeTheDelete(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0") // the old cluster's HTTP port
	require.NoError(t, err)
	defer held.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0") // someone else's server
	require.NoError(t, err)
	defer other.Close()
	heldPort, otherPort := held.Addr().(*net.TCPAddr).Port, other.Addr().(*net.TCPAddr).Port
	free := freePort(t)

	client := fake.NewClientset()
	require.NoError(t, WriteStoredSpec(context.Background(), client, StoredSpec{Spec: Spec{Name: "kindstack", ListenAddress: "127.0.0.1", HTTPPort: heldPort, HTTPSPort: free}}))
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{clusters: []string{"kindstack"}}, client)

	_, err = m.Preflight(context.Background(), PreflightOptions{Replacing: true,
		Spec: Spec{Name: "kindstack", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: heldPort, HTTPSPort: free}})
	assert.NoError(t, err, "the same ports: the old cluster frees them")

	_, err = m.Preflight(context.Background(), PreflightOptions{Replacing: true,
		Spec: Spec{Name: "kindstack", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: otherPort, HTTPSPort: free}})
	require.Error(t, err, "a new port another program holds is found before anything is deleted")
	assert.Contains(t, err.Error(), "port "+strconv.Itoa(otherPort)+" on 127.0.0.1 is already in use by another program")
}

func TestPreflightWarnsOnCgroupV1(t *testing.T) {
	t.Parallel()
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
	m.CgroupV2 = func() bool { return false }
	spec := Spec{Name: "kindstack", ListenAddress: "127.0.0.1", HTTPPort: freePort(t), HTTPSPort: freePort(t)}

	spec.NodeImage = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
	rep, err := m.Preflight(context.Background(), PreflightOptions{Spec: spec})
	require.NoError(t, err)
	require.Len(t, rep.Warnings, 1)
	assert.Contains(t, rep.Warnings[0], "cgroup v1")
	assert.Contains(t, rep.Warnings[0], "--image kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d")

	spec.NodeImage = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"
	rep, err = m.Preflight(context.Background(), PreflightOptions{Spec: spec})
	require.NoError(t, err)
	assert.Empty(t, rep.Warnings, "a 1.34 image runs on cgroup v1")
}

func TestDiffSpecSaysWhatDiffers(t *testing.T) {
	t.Parallel()
	have := Spec{Name: "k", NodeImage: "a", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443}
	assert.Empty(t, DiffSpec(have, have))
	want := have
	want.HTTPPort, want.NodeImage = 8080, "b"
	assert.Equal(t, []string{"nodeImage: cluster has a, wanted b", "httpPort: cluster has 80, wanted 8080"}, DiffSpec(have, want))
	more := have
	more.Workers = 2
	assert.Equal(t, []string{"workers: cluster has 0, wanted 2"}, DiffSpec(have, more), "the node layout is part of the spec")
}

func TestEnsureRefusesAChangedSpec(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(readyNode("kindstack-control-plane"))
	stored := Spec{Name: "kindstack", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443}
	require.NoError(t, WriteStoredSpec(context.Background(), client, StoredSpec{Spec: stored, Version: "v0.1.0"}))
	kubeconfig := t.TempDir() + "/config"
	m := testManager(t, nil, fakeRuntime{}, &fakeProvider{clusters: []string{"kindstack"}}, client)

	want := stored
	want.HTTPPort = 8080
	_, err := m.Ensure(context.Background(), EnsureOptions{Spec: want, Kubeconfig: kubeconfig})
	require.Error(t, err)
	assert.Equal(t, `cluster "kindstack" exists with a different spec (httpPort: cluster has 80, wanted 8080); run `+"`kindstack recreate`"+` to replace it, or drop the changed settings`, err.Error())
	assert.NoFileExists(t, kubeconfig, "a refused up changes nothing")

	more := stored
	more.Workers = 2
	_, err = m.Ensure(context.Background(), EnsureOptions{Spec: more, Kubeconfig: kubeconfig})
	assert.EqualError(t, err, `cluster "kindstack" exists with a different spec (workers: cluster has 0, wanted 2); run `+"`kindstack recreate`"+` to replace it, or drop the changed settings`)

	res, err := m.Ensure(context.Background(), EnsureOptions{Spec: stored, Kubeconfig: kubeconfig})
	require.NoError(t, err)
	assert.False(t, res.Created)
	assert.Equal(t, "kind-kindstack", res.Context)
	assert.FileExists(t, kubeconfig)
}

func TestEnsureRefusesAClusterKindstackDidNotCreate(t *testing.T) {
	t.Parallel()
	m := testManager(t, nil, fakeRuntime{}, &fakeProvider{clusters: []string{"kindstack"}}, fake.NewClientset())
	_, err := m.Ensure(context.Background(), EnsureOptions{Spec: Spec{Name: "kindstack"}, Kubeconfig: t.TempDir() + "/config"})
	assert.ErrorContains(t, err, "was not created by kindstack (no ConfigMap kube-public/kindstack-spec), so kindstack leaves it alone: "+
		"use another --name, or `kindstack recreate --force --name kindstack` to DELETE it")
}

// orphanedProvider is a cluster whose killed creator's `docker run` still runs: after the first
// delete its node comes back once.
type orphanedProvider struct {
	fakeProvider
	comebacks int
}

func (p *orphanedProvider) Delete(name, kubeconfig string) error {
	p.deleted = append(p.deleted, name)
	if p.comebacks > 0 {
		p.comebacks-- // the orphan creates the node again right after this delete
		return nil
	}
	p.clusters = slices.DeleteFunc(p.clusters, func(c string) bool { return c == name })
	return nil
}

func TestEnsureDeletesAndRecreatesAClusterAnInterruptedRunLeftHalfMade(t *testing.T) {
	t.Parallel()
	p := &orphanedProvider{fakeProvider: fakeProvider{clusters: []string{"kindstack"}}, comebacks: 1}
	m := testManager(t, nil, fakeRuntime{}, &p.fakeProvider, fake.NewClientset())
	m.NewProvider = func(Runtime, log.Logger) Provider { return p }
	m.Run = withNodeIDs(m.Run, "c0ffee")
	require.NoError(t, m.markCreatingNodes("kindstack", []string{"c0ffee"}))
	var warnings []string
	_, err := m.Ensure(context.Background(), EnsureOptions{Spec: Spec{Name: "kindstack"}, Kubeconfig: t.TempDir() + "/config",
		Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }})
	assert.Equal(t, []string{"kindstack", "kindstack"}, p.deleted, "the half-made cluster is deleted until it stays gone")
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], `cluster "kindstack" was left half-created by an interrupted kindstack (pid `)
	assert.ErrorContains(t, err, "the unit tier never creates clusters", "then it is created again")
}

func TestEnsureSaysStoppedNodesAndRestartsThem(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(readyNode("kindstack-control-plane"))
	spec := Spec{Name: "kindstack", NodeImage: "img", ListenAddress: "127.0.0.1", HTTPPort: 80, HTTPSPort: 443}
	require.NoError(t, WriteStoredSpec(context.Background(), client, StoredSpec{Spec: spec}))
	state := "exited"
	var started []string
	m := testManager(t, nil, fakeRuntime{}, &fakeProvider{clusters: []string{"kindstack"}}, client)
	m.Run = func(_ context.Context, name string, args ...string) ([]byte, error) {
		switch args[0] {
		case "ps":
			return []byte("kindstack-control-plane\t" + state + "\n"), nil
		case "start":
			started = append(started, args[1])
			state = "running"
			return nil, nil
		}
		return nil, errors.New("unexpected " + args[0])
	}
	rt := Runtime{Name: "docker", Binary: "docker"}
	_, err := m.Ensure(context.Background(), EnsureOptions{Spec: spec, Runtime: rt, Kubeconfig: t.TempDir() + "/config"})
	require.Error(t, err)
	assert.Equal(t, `cluster "kindstack" is not running: node container kindstack-control-plane is exited; `+
		"run `kindstack up --restart --name kindstack`, or `docker start kindstack-control-plane`", err.Error())
	assert.Empty(t, started, "nothing is started without --restart")

	res, err := m.Ensure(context.Background(), EnsureOptions{Spec: spec, Runtime: rt, Restart: true, Kubeconfig: t.TempDir() + "/config"})
	require.NoError(t, err)
	assert.False(t, res.Created)
	assert.Equal(t, []string{"kindstack-control-plane"}, started)
}

func readyNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func TestDeleteRefusesAClusterKindstackDidNotCreateUnlessForced(t *testing.T) {
	t.Parallel()
	p := &fakeProvider{clusters: []string{"colleague"}}
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, p, fake.NewClientset())
	kubeconfig := t.TempDir() + "/config"
	_, err := m.Delete(context.Background(), DeleteOptions{Name: "colleague", Kubeconfig: kubeconfig})
	require.Error(t, err)
	assert.Equal(t, `cluster "colleague" was not created by kindstack (it has no ConfigMap kube-public/kindstack-spec), so kindstack leaves it alone; pass --force to delete it anyway`, err.Error())
	assert.Empty(t, p.deleted)

	// Its API does not answer (a stopped node): only this machine's record can vouch for it.
	m.NewClient = func([]byte) (kubernetes.Interface, error) { return nil, errors.New("connection refused") }
	_, err = m.Delete(context.Background(), DeleteOptions{Name: "colleague", Kubeconfig: kubeconfig})
	assert.ErrorContains(t, err, `cluster "colleague" does not answer`)
	assert.ErrorContains(t, err, "pass --force to delete it anyway")
	m.Run = withNodeIDs(m.Run, "c0ffee")
	require.NoError(t, m.recordCreated(StoredSpec{Spec: Spec{Name: "colleague"}}, []string{"c0ffee"}))
	existed, err := m.Delete(context.Background(), DeleteOptions{Name: "colleague", Kubeconfig: kubeconfig})
	require.NoError(t, err, "recorded as kindstack's on this machine")
	assert.True(t, existed)
	_, recorded := m.recorded("colleague")
	assert.False(t, recorded, "the record goes with the cluster")

	p.clusters = []string{"colleague"}
	existed, err = m.Delete(context.Background(), DeleteOptions{Name: "colleague", Kubeconfig: kubeconfig, Force: true})
	require.NoError(t, err)
	assert.True(t, existed, "--force deletes it")
	assert.Equal(t, []string{"colleague", "colleague"}, p.deleted)
}

func TestDeleteOfAMissingClusterSucceeds(t *testing.T) {
	t.Parallel()
	p := &fakeProvider{}
	kubeconfig := t.TempDir() + "/config"
	_, err := MergeKubeconfig(t.Context(), kubeconfig, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:1"))
	require.NoError(t, err)
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, p, nil)

	existed, err := m.Delete(context.Background(), DeleteOptions{Name: "kindstack", Kubeconfig: kubeconfig})
	require.NoError(t, err)
	assert.False(t, existed)
	assert.Empty(t, p.deleted)
	assert.NotContains(t, readFile(t, kubeconfig), "kind-kindstack", "a stale context is cleaned up anyway")

	p.clusters = []string{"kindstack"}
	client := fake.NewClientset()
	require.NoError(t, WriteStoredSpec(context.Background(), client, StoredSpec{Spec: Spec{Name: "kindstack"}}))
	m.NewClient = func([]byte) (kubernetes.Interface, error) { return client, nil }
	existed, err = m.Delete(context.Background(), DeleteOptions{Name: "kindstack", Kubeconfig: kubeconfig})
	require.NoError(t, err)
	assert.True(t, existed)
	assert.Equal(t, []string{"kindstack"}, p.deleted)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
	st, err := m.Status(context.Background(), "kindstack", "")
	require.NoError(t, err)
	assert.False(t, st.Exists)
	assert.Equal(t, `cluster "kindstack" does not exist; run `+"`kindstack up`"+` to create it`, st.Problem)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kindstack-control-plane"}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime network not ready"}},
	}}
	m = testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{clusters: []string{"kindstack"}}, fake.NewClientset(node))
	st, err = m.Status(context.Background(), "kindstack", "")
	require.NoError(t, err)
	assert.True(t, st.Exists)
	assert.False(t, st.Ready)
	assert.Equal(t, "node kindstack-control-plane is not Ready: KubeletNotReady: container runtime network not ready", st.Problem)

	_, err = testManager(t, nil, fakeRuntime{}, &fakeProvider{}, nil).Status(context.Background(), "kindstack", "")
	assert.ErrorContains(t, err, "no container runtime found")
}

// status connects through the context up merged into the user's kubeconfig, without asking kind
// (seven runtime commands), and falls back to kind's when that context does not answer.
func TestStatusUsesTheMergedContextAndFallsBackToKinds(t *testing.T) {
	t.Parallel()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kindstack-control-plane"}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}}
	kubeconfig := filepath.Join(t.TempDir(), "config")
	_, err := MergeKubeconfig(t.Context(), kubeconfig, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:2"))
	require.NoError(t, err)
	p := &fakeProvider{clusters: []string{"kindstack"}}
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, p, fake.NewClientset(node))
	var asked []string
	m.NewClient = func(kc []byte) (kubernetes.Interface, error) {
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
		require.NoError(t, err)
		asked = append(asked, cfg.Host)
		return fake.NewClientset(node), nil
	}
	st, err := m.Status(context.Background(), "kindstack", kubeconfig)
	require.NoError(t, err)
	assert.True(t, st.Exists)
	assert.Equal(t, []string{"https://127.0.0.1:2"}, asked, "the merged context, and only it")
	assert.Zero(t, p.kubeconfigs, "kind was not asked")

	asked = nil
	m.NewClient = func(kc []byte) (kubernetes.Interface, error) {
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
		require.NoError(t, err)
		asked = append(asked, cfg.Host)
		if cfg.Host == "https://127.0.0.1:2" {
			return nil, errors.New("connection refused")
		}
		return fake.NewClientset(node), nil
	}
	_, err = m.Status(context.Background(), "kindstack", kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, []string{"https://127.0.0.1:2", "https://127.0.0.1:1"}, asked, "a stale context: kind's kubeconfig next")
	assert.Equal(t, 1, p.kubeconfigs)
}

func TestWaitNodesReadyTimesOutWithTheReason(t *testing.T) {
	t.Parallel()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	err := WaitNodesReady(context.Background(), fake.NewClientset(node), 100*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "nodes not Ready after 100ms: not Ready: n1 (no Ready condition yet)")

	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	assert.NoError(t, WaitNodesReady(context.Background(), fake.NewClientset(node), time.Second))
}

// createFails fails kind's create the way a failed node command does.
type createFails struct{ fakeProvider }

func (p *createFails) Create(string, ...kindcluster.CreateOption) error {
	run := &kindexec.RunError{
		Command: []string{"docker", "exec", "--privileged", "kindstack-control-plane", "kubeadm", "init"},
		Output:  []byte("[init] Using Kubernetes version: v1.35.8\n[preflight] Running pre-flight checks\nerror execution phase preflight: [preflight] Some fatal errors occurred:\n\t[ERROR SystemVerification]: cgroups v1 support is unsupported\n"),
		Inner:   errors.New("exit status 1"),
	}
	return kinderrors.Wrap(run, "failed to init node with kubeadm")
}

func TestAFailedCreateShowsTheCommandsOutput(t *testing.T) {
	t.Parallel()
	p := &createFails{}
	m := testManager(t, nil, fakeRuntime{}, &p.fakeProvider, nil)
	m.NewProvider = func(Runtime, log.Logger) Provider { return p }
	_, err := m.Ensure(context.Background(), EnsureOptions{Spec: Spec{Name: "kindstack"}, Kubeconfig: t.TempDir() + "/config"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `create cluster "kindstack": failed to init node with kubeadm: command "docker exec --privileged kindstack-control-plane kubeadm init" failed with error: exit status 1`)
	assert.Contains(t, err.Error(), "last lines of its output:\n  [init] Using Kubernetes version: v1.35.8")
	assert.Contains(t, err.Error(), "[ERROR SystemVerification]: cgroups v1 support is unsupported", "the reason kubeadm gave is shown")
	assert.Contains(t, err.Error(), "`kindstack up --retain` to keep the failed node")
	_, half := m.halfCreated("kindstack")
	assert.False(t, half, "kind removed what it made, and so does the marker")
}
