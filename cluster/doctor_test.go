package cluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kindstack/kindstack/internal/nodeimage"
)

func checkNamed(t *testing.T, checks []Check, name string) Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("doctor has no check %q: %+v", name, checks)
	return Check{}
}

// fakeProc writes a /proc with the given inotify limits and available memory.
func fakeProc(t *testing.T, watches, instances int, memAvailableKB int64) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "fs", "inotify")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "max_user_watches"), []byte(strconv.Itoa(watches)+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "max_user_instances"), []byte(strconv.Itoa(instances)+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal: 24000000 kB\nMemAvailable: "+strconv.FormatInt(memAvailableKB, 10)+" kB\n"), 0o644))
	return root
}

func TestDoctorFindsWhatMakesUpFailOrCrawl(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
	m.ProcRoot = fakeProc(t, 8192, 128, 1<<20)                  // Debian's defaults, 1 GiB free
	m.CgroupV2 = func() bool { return CgroupV2At(t.TempDir()) } // a hierarchy without cgroup.controllers: v1
	m.FreeBytes = func(string) (int64, error) { return 2 << 30, nil }
	m.LookupHost = func(_ context.Context, host string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o644))

	checks := m.Doctor(context.Background(), DoctorOptions{
		Spec:       Spec{Name: "kindstack", NodeImage: nodeimage.Default, ListenAddress: "127.0.0.1", HTTPPort: busyPort, HTTPSPort: freePort(t)},
		Kubeconfig: filepath.Join(notADir, "config"),
		Registries: []string{"registry.invalid"},
	})
	assert.Equal(t, OK, checkNamed(t, checks, "container engine").Verdict)
	cg := checkNamed(t, checks, "cgroup")
	assert.Equal(t, Fail, cg.Verdict, "a 1.35 node image on cgroup v1 cannot start")
	assert.Contains(t, cg.Fix, "--image "+CgroupV1NodeImage)
	port := checkNamed(t, checks, "host port "+strconv.Itoa(busyPort))
	assert.Equal(t, Fail, port.Verdict)
	assert.Contains(t, port.Detail, "already in use by another program")
	ino := checkNamed(t, checks, "inotify limits")
	assert.Equal(t, Warn, ino.Verdict)
	assert.Contains(t, ino.Fix, "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512")
	assert.Contains(t, ino.Fix, "too many open files")
	assert.Equal(t, Warn, checkNamed(t, checks, "free disk").Verdict)
	assert.Equal(t, Warn, checkNamed(t, checks, "free memory").Verdict)
	kc := checkNamed(t, checks, "kubeconfig")
	assert.Equal(t, Fail, kc.Verdict)
	assert.Contains(t, kc.Detail, "cannot be created")
	reg := checkNamed(t, checks, "registry registry.invalid")
	assert.Equal(t, Warn, reg.Verdict)
	assert.Contains(t, reg.Detail, "does not resolve")
	assert.Equal(t, OK, checkNamed(t, checks, "lock").Verdict)
}

func TestDoctorOnAGoodMachine(t *testing.T) {
	t.Parallel()
	m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
	m.ProcRoot = fakeProc(t, 524288, 512, 16<<20)
	v2 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644))
	m.CgroupV2 = func() bool { return CgroupV2At(v2) }
	m.FreeBytes = StatFreeBytes
	unlock, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
	require.NoError(t, err)
	defer unlock()

	checks := m.Doctor(context.Background(), DoctorOptions{
		Spec:       Spec{Name: "kindstack", NodeImage: nodeimage.Default, ListenAddress: "127.0.0.1", HTTPPort: freePort(t), HTTPSPort: freePort(t)},
		Kubeconfig: filepath.Join(t.TempDir(), ".kube", "config"),
	})
	for _, c := range checks {
		if c.Name == "lock" {
			assert.Equal(t, Warn, c.Verdict, "a held lock is said")
			continue
		}
		if c.Name == "free disk" && c.Verdict == Warn {
			continue // this machine's own disk may be short; the verdict is real either way
		}
		assert.Equal(t, OK, c.Verdict, "%s: %s %s", c.Name, c.Detail, c.Fix)
	}
}

func TestPreflightWarnsOnlyOnInotifyLimitsTooLowForOneCluster(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		watches, instances int
		warn               bool
	}{{8192, 128, true}, {524288, 64, true}, {192536, 128, false}, {524288, 512, false}} {
		m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{}, nil)
		m.ProcRoot = fakeProc(t, tt.watches, tt.instances, 16<<20)
		rep, err := m.Preflight(context.Background(), PreflightOptions{Spec: Spec{Name: "kindstack", NodeImage: nodeimage.Default, ListenAddress: "127.0.0.1", HTTPPort: freePort(t), HTTPSPort: freePort(t)}})
		require.NoError(t, err)
		warned := false
		for _, w := range rep.Warnings {
			warned = warned || strings.Contains(w, "inotify limits are low")
		}
		assert.Equal(t, tt.warn, warned, "watches %d, instances %d: %v", tt.watches, tt.instances, rep.Warnings)
	}
}

// doctor compares the wanted ports with the ones the existing cluster's stored spec maps, and
// says who holds a busy port when the runtime knows.
func TestDoctorPortCheckLooksAtThePortsTheClusterMaps(t *testing.T) {
	t.Parallel()
	mapped, err := net.Listen("tcp", "127.0.0.1:0") // the existing cluster's node publishes it
	require.NoError(t, err)
	t.Cleanup(func() { mapped.Close() })
	mappedPort := mapped.Addr().(*net.TCPAddr).Port
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free := freePort(t)

	tests := []struct {
		name      string
		port      int
		publisher string // what `ps --filter publish=<port>` shows
		verdict   Verdict
		detail    string
	}{
		{name: "a port the cluster maps", port: mappedPort, verdict: OK, detail: "held by the existing cluster kindstack, which maps it"},
		{name: "a free port the cluster does not map", port: free, verdict: OK,
			detail: "free on 127.0.0.1; the existing cluster kindstack maps " + strconv.Itoa(mappedPort) + " and 443 instead, so `up` asks for `kindstack recreate`"},
		{name: "a port another program holds", port: busyPort, verdict: Fail,
			detail: "port " + strconv.Itoa(busyPort) + " on 127.0.0.1 is already in use by another program"},
		{name: "a port another kind cluster's node holds", port: busyPort, publisher: "other-control-plane\tother\n", verdict: Fail,
			detail: "port " + strconv.Itoa(busyPort) + " on 127.0.0.1 is held by container other-control-plane, a node of kind cluster other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			stored := Spec{Name: "kindstack", NodeImage: nodeimage.Default, ListenAddress: "127.0.0.1", HTTPPort: mappedPort, HTTPSPort: 443}
			require.NoError(t, WriteStoredSpec(context.Background(), client, StoredSpec{Spec: stored}))
			m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, &fakeProvider{clusters: []string{"kindstack"}}, client)
			run := m.Run
			m.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
				if args[0] == "ps" && slices.Contains(args, "publish="+strconv.Itoa(tt.port)) {
					return []byte(tt.publisher), nil
				}
				return run(ctx, name, args...)
			}
			m.ProcRoot, m.FreeBytes = t.TempDir(), func(string) (int64, error) { return 100 << 30, nil }
			want := stored
			want.HTTPPort, want.HTTPSPort = tt.port, 443
			c := checkNamed(t, m.Doctor(context.Background(), DoctorOptions{Spec: want, Kubeconfig: filepath.Join(t.TempDir(), "config")}), "host port "+strconv.Itoa(tt.port))
			assert.Equal(t, tt.verdict, c.Verdict, c.Detail)
			assert.Equal(t, tt.detail, c.Detail)
		})
	}
}
