package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Verdict is one check's outcome.
type Verdict string

const (
	OK   Verdict = "ok"
	Warn Verdict = "warn"
	Fail Verdict = "fail"
)

// Check is one line of `kindstack doctor`: what was checked, the verdict, what was found and,
// unless it is ok, what to do.
type Check struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	Fix     string  `json:"fix,omitempty"`
}

// DoctorOptions are the inputs of Doctor.
type DoctorOptions struct {
	Spec       Spec
	Kubeconfig string   // the file kindstack merges into
	Registries []string // hosts the stack pulls from (after the images map)
	// Containers run beside the nodes (a local registry): their host ports are checked too.
	Containers []Container
	// Mirrors are the mirror URLs of each of those hosts, tried first; Bundle says the images
	// come from a bundle (both for the make run line).
	Mirrors map[string][]string
	Bundle  bool
}

// Host limits below which kind is known to misbehave (kind's known issues: "too many open files"
// from inotify; a node image and the stack's images need room).
const (
	minInotifyWatches   = 524288
	minInotifyInstances = 512
	minFreeDisk         = 10 << 30
	minFreeMemory       = 4 << 30
	lookupWait          = 3 * time.Second
)

// Doctor checks everything that makes `up` fail or crawl on this machine, without changing anything.
func (m *Manager) Doctor(ctx context.Context, opts DoctorOptions) []Check {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }

	rt, version, err := m.engine(ctx, nil)
	if err != nil {
		add(Check{Name: "container engine", Verdict: Fail, Detail: err.Error(), Fix: "start Docker (or Podman, nerdctl), or set " + ExperimentalProviderEnv})
	} else {
		add(Check{Name: "container engine", Verdict: OK, Detail: strings.TrimSpace(rt.Name + " " + version)})
	}
	add(m.cgroupCheck(opts.Spec.NodeImage))
	// The existing cluster's own ports are busy because it holds them: which ports those are is
	// what its stored spec (or this machine's record of it) says, not its name.
	var existing *Spec
	if err == nil {
		if names, err := m.NewProvider(rt, nil).List(); err == nil && slices.Contains(names, opts.Spec.Name) {
			existing = m.knownSpec(ctx, rt, opts.Spec.Name)
		}
	}
	for _, pc := range []PortCheck{{opts.Spec.HTTPPort, "--http-port"}, {opts.Spec.HTTPSPort, "--https-port"}} {
		add(m.portCheck(ctx, rt, err == nil, opts.Spec, existing, pc))
	}
	for _, c := range opts.Containers {
		add(m.besideCheck(ctx, rt, err == nil, c))
	}
	add(m.inotifyCheck())
	if err == nil {
		add(m.diskCheck(ctx, rt))
	}
	add(m.memoryCheck())
	add(kubeconfigCheck(opts.Kubeconfig))
	add(m.localStateCheck())
	if pid, held := m.LockHolder(opts.Spec.Name); held {
		add(Check{Name: "lock", Verdict: Warn, Detail: fmt.Sprintf("another kindstack (pid %d) is changing cluster %q right now", pid, opts.Spec.Name),
			Fix: "wait for it; `up` waits by itself (or fails at once with --no-wait)"})
	} else {
		add(Check{Name: "lock", Verdict: OK, Detail: "no other kindstack is changing cluster " + opts.Spec.Name})
	}
	for _, host := range opts.Registries {
		add(m.registryCheck(ctx, host))
	}
	add(makeRunCheck(m.makeRunFacts(ctx, rt, version, err, opts)))
	if err == nil {
		if list, err := m.List(ctx); err == nil {
			for _, c := range list {
				if strings.HasPrefix(c.State, "missing") {
					add(Check{Name: "cluster " + c.Name, Verdict: Warn, Detail: "kindstack created it, but it was deleted outside kindstack",
						Fix: "`kindstack down --name " + c.Name + "` removes its kubeconfig context and record"})
				}
			}
		}
	}
	return checks
}

// portCheck is doctor's line for one host port the spec wants.
func (m *Manager) portCheck(ctx context.Context, rt Runtime, engineUp bool, want Spec, existing *Spec, pc PortCheck) Check {
	c := Check{Name: fmt.Sprintf("host port %d", pc.Port), Verdict: OK}
	if existing != nil && existing.ListenAddress == want.ListenAddress && slices.Contains([]int{existing.HTTPPort, existing.HTTPSPort}, pc.Port) {
		c.Detail = fmt.Sprintf("held by the existing cluster %s, which maps it", want.Name)
		return c
	}
	err := CheckPort(m.Listen, want.ListenAddress, pc)
	switch {
	case err == nil:
		c.Detail = "free on " + want.ListenAddress
	case !m.portInUse(want.ListenAddress, pc.Port):
		c.Verdict, c.Detail, c.Fix = Fail, err.Error(), "choose another port with "+pc.Flag
	default:
		c.Verdict, c.Fix = Fail, "stop what holds it, or choose another port with "+pc.Flag
		c.Detail = fmt.Sprintf("port %d on %s is already in use by another program", pc.Port, want.ListenAddress)
		if engineUp {
			if holder := m.portHolder(ctx, rt, pc.Port); holder != "" {
				c.Detail = fmt.Sprintf("port %d on %s is held by %s", pc.Port, want.ListenAddress, holder)
			}
		}
	}
	if existing != nil && c.Verdict == OK {
		c.Detail += fmt.Sprintf("; the existing cluster %s maps %d and %d instead, so `up` asks for `kindstack recreate`", want.Name, existing.HTTPPort, existing.HTTPSPort)
	}
	return c
}

// portInUse reports whether something listens on address:port already.
func (m *Manager) portInUse(address string, port int) bool {
	l, err := m.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err == nil {
		l.Close()
		return false
	}
	return errors.Is(err, syscall.EADDRINUSE)
}

// portHolder names the container publishing a host port, and the kind cluster it is a node of;
// "" when the runtime knows of none (the holder is some other program).
func (m *Manager) portHolder(ctx context.Context, rt Runtime, port int) string {
	ctx, cancel := context.WithTimeout(ctx, lookupWait)
	defer cancel()
	out, err := m.Run(ctx, rt.Binary, "ps", "--filter", "publish="+strconv.Itoa(port), "--format", `{{.Names}}\t{{.Label "`+kindClusterLabel+`"}}`)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, cluster, ok := strings.Cut(strings.TrimRight(line, "\r"), "\t")
		name, cluster = strings.TrimSpace(name), strings.TrimSpace(cluster)
		switch {
		case !ok || name == "":
		case cluster != "":
			return fmt.Sprintf("container %s, a node of kind cluster %s", name, cluster)
		default:
			return "container " + name
		}
	}
	return ""
}

// localStateCheck says whether kindstack's lock and state directories are the user's own and
// private: a command refuses them otherwise.
func (m *Manager) localStateCheck() Check {
	c := Check{Name: "local state", Verdict: OK, Detail: m.LockDir + " and " + m.StateDir + " are yours alone"}
	for _, dir := range []string{m.LockDir, m.StateDir} {
		if err := privateDir(dir, false, m.fileOwner()); err != nil && !errors.Is(err, errNoDir) {
			c.Verdict, c.Detail = Fail, err.Error()
			c.Fix = "kindstack refuses to lock or record clusters there until it is fixed"
			return c
		}
	}
	return c
}

func (m *Manager) cgroupCheck(nodeImage string) Check {
	c := Check{Name: "cgroup", Verdict: OK}
	switch {
	case m.CgroupV2():
		c.Detail = "cgroup v2"
	case imageNeedsCgroupV2(nodeImage):
		c.Verdict, c.Detail = Fail, "this host uses cgroup v1, which the kubelet of the node image's Kubernetes (1.35 or newer) refuses"
		c.Fix = "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or use a 1.34 node image: --image " + CgroupV1NodeImage
	default:
		c.Detail = "cgroup v1, which the node image's Kubernetes still accepts"
	}
	return c
}

func (m *Manager) inotifyCheck() Check {
	c := Check{Name: "inotify limits", Verdict: OK}
	watches, errW := readInt(filepath.Join(m.ProcRoot, "sys/fs/inotify/max_user_watches"))
	instances, errI := readInt(filepath.Join(m.ProcRoot, "sys/fs/inotify/max_user_instances"))
	if errW != nil || errI != nil {
		c.Detail = "not readable here (not Linux?); Docker Desktop sets its own"
		return c
	}
	c.Detail = fmt.Sprintf("max_user_watches %d, max_user_instances %d", watches, instances)
	if watches < minInotifyWatches || instances < minInotifyInstances {
		c.Verdict = Warn
		c.Fix = fmt.Sprintf("kind clusters can fail with \"too many open files\" at these limits (kind's known issue, worse with several clusters): sudo sysctl fs.inotify.max_user_watches=%d fs.inotify.max_user_instances=%d",
			max(watches, minInotifyWatches), max(instances, minInotifyInstances))
	}
	return c
}

func (m *Manager) diskCheck(ctx context.Context, rt Runtime) Check {
	c := Check{Name: "free disk", Verdict: OK}
	out, err := m.Run(ctx, rt.Binary, "info", "--format", "{{.DockerRootDir}}")
	root := strings.TrimSpace(string(out))
	if err != nil || root == "" || rt.Name != "docker" {
		root = os.TempDir()
	}
	free, err := m.FreeBytes(root)
	if err != nil {
		c.Detail = "cannot tell for " + root + ": " + err.Error()
		return c
	}
	c.Detail = fmt.Sprintf("%s free under %s", humanBytes(free), root)
	if free < minFreeDisk {
		c.Verdict = Warn
		c.Fix = fmt.Sprintf("the node image and the stack's images need about %s: free some (docker system prune)", humanBytes(minFreeDisk))
	}
	return c
}

func (m *Manager) memoryCheck() Check {
	c := Check{Name: "free memory", Verdict: OK}
	f, err := os.Open(filepath.Join(m.ProcRoot, "meminfo"))
	if err != nil {
		c.Detail = "not readable here (not Linux?)"
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			free := kb << 10
			c.Detail = humanBytes(free) + " available"
			if free < minFreeMemory {
				c.Verdict = Warn
				c.Fix = "the cluster and the stack need about " + humanBytes(minFreeMemory) + ": close programs, or give Docker Desktop more memory"
			}
			return c
		}
	}
	c.Detail = "MemAvailable not reported"
	return c
}

func kubeconfigCheck(path string) Check {
	c := Check{Name: "kubeconfig", Verdict: OK, Detail: path + " is writable"}
	target := path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	if fi, err := os.Stat(target); err == nil {
		if f, err := os.OpenFile(target, os.O_WRONLY, fi.Mode()); err != nil {
			c.Verdict, c.Detail, c.Fix = Fail, fmt.Sprintf("%s is not writable: %v", path, err), "fix its permissions, or pass --kubeconfig FILE"
		} else {
			f.Close()
		}
		return c
	}
	dir := filepath.Dir(target)
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil {
			break
		}
	}
	probe, err := os.CreateTemp(dir, ".kindstack-doctor-*")
	if err != nil {
		c.Verdict, c.Detail, c.Fix = Fail, fmt.Sprintf("%s cannot be created: %v", path, err), "fix the permissions of "+dir+", or pass --kubeconfig FILE"
		return c
	}
	probe.Close()
	os.Remove(probe.Name())
	c.Detail = path + " will be created"
	return c
}

func (m *Manager) registryCheck(ctx context.Context, host string) Check {
	c := Check{Name: "registry " + host, Verdict: OK}
	ctx, cancel := context.WithTimeout(ctx, lookupWait)
	defer cancel()
	lookup := m.LookupHost
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		c.Verdict, c.Detail = Warn, "does not resolve: "+err.Error()
		c.Fix = "images from it can only come from a mirror (the images: map) or be loaded into Docker beforehand; `up` loads what Docker has"
		return c
	}
	c.Detail = "resolves to " + strings.Join(addrs[:min(2, len(addrs))], ", ")
	return c
}

// Below these, a single cluster's kubelet, containerd and pods already run out of inotify watches
// or instances.
const (
	oneClusterInotifyWatches   = 65536
	oneClusterInotifyInstances = 128
)

func inotifyTooLowForOne(procRoot string) bool {
	watches, errW := readInt(filepath.Join(procRoot, "sys/fs/inotify/max_user_watches"))
	instances, errI := readInt(filepath.Join(procRoot, "sys/fs/inotify/max_user_instances"))
	return errW == nil && errI == nil && (watches < oneClusterInotifyWatches || instances < oneClusterInotifyInstances)
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

func humanBytes(n int64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
