package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// What `make run` (internal/makerun/run.sh) does on a machine, as doctor reports it. The script follows the
// same rules: the user's engine when one answers, else kindstack's private dockerd (its socket in
// the offline cache; started on Linux as root); images pulled when every registry the stack pulls
// from answers (itself or one of its mirrors), from the bundle with --bundle, else built from
// source into the engine and cached, with a generated config file pointing `up` at them.

const (
	// registryProbeWait is how long a registry or mirror has to answer; the script's curl uses the same.
	registryProbeWait = 3 * time.Second
	// offlineColdBuild is the offline build from empty caches on 2 cores, from the stages measured
	// in the test bed's timings.log (README: On a fresh machine).
	offlineColdBuild = "about 20 min on 2 cores"
)

// OfflineDir is the cache of the offline build and of kindstack's private engine: the test bed's
// (e2e/testbed/lib.sh's TESTBED_DIR), which the build shares.
func OfflineDir(getenv func(string) string) string {
	if d := getenv("KINDSTACK_TESTBED_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kindstack-testbed")
	}
	return filepath.Join(getenv("HOME"), ".cache", "kindstack-testbed")
}

// makeRunFacts is what decides make run's path; gathered by (*Manager).makeRunFacts.
type makeRunFacts struct {
	Engine          string // the user's engine that answers ("" when none does)
	EngineVersion   string
	EngineIsPrivate bool   // the answering engine is kindstack's private one (DOCKER_HOST points at it)
	PrivateSocket   string // kindstack's private engine's socket
	PrivateAnswers  bool
	CanStartPrivate bool // Linux and root: make run may start the private engine
	Bundle          bool
	Unreachable     []string // registries whose images neither they nor a mirror serve now
	Reachable       []string
	OfflineConfig   string // the images map the offline build writes
	OfflineCached   bool
	Root            bool
}

// makeRunFacts gathers the facts; engineErr is doctor's own engine check's outcome.
func (m *Manager) makeRunFacts(ctx context.Context, rt Runtime, version string, engineErr error, opts DoctorOptions) makeRunFacts {
	dir := OfflineDir(m.getenv)
	geteuid := m.Geteuid
	if geteuid == nil {
		geteuid = os.Geteuid
	}
	root := geteuid() == 0
	f := makeRunFacts{
		PrivateSocket:   filepath.Join(dir, "docker", "docker.sock"),
		OfflineConfig:   filepath.Join(dir, "offline", "kindstack.yaml"),
		Bundle:          opts.Bundle,
		Root:            root,
		CanStartPrivate: runtime.GOOS == "linux" && root,
	}
	if engineErr == nil {
		f.Engine, f.EngineVersion = rt.Name, version
		f.EngineIsPrivate = m.getenv("DOCKER_HOST") == "unix://"+f.PrivateSocket
	}
	if !f.EngineIsPrivate {
		f.PrivateAnswers = pingDockerSocket(ctx, f.PrivateSocket)
	}
	if _, err := os.Stat(f.OfflineConfig); err == nil {
		f.OfflineCached = true
	}
	if !f.Bundle {
		f.Reachable, f.Unreachable = m.probeSources(ctx, opts.Registries, opts.Mirrors)
	}
	return f
}

// probeSources asks every registry and mirror at once whether it answers; a registry is reachable
// when it or one of its mirrors does.
func (m *Manager) probeSources(ctx context.Context, registries []string, mirrors map[string][]string) (reachable, unreachable []string) {
	probe := m.ProbeRegistry
	if probe == nil {
		probe = probeRegistryHTTP
	}
	var bases []string
	for _, r := range registries {
		bases = append(bases, "https://"+r)
		for _, mirror := range mirrors[r] {
			bases = append(bases, strings.TrimSuffix(mirror, "/"))
		}
	}
	slices.Sort(bases)
	bases = slices.Compact(bases)
	answered := make(map[string]bool, len(bases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, base := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := probe(ctx, base)
			mu.Lock()
			answered[base] = err == nil
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range registries {
		ok := answered["https://"+r]
		for _, mirror := range mirrors[r] {
			ok = ok || answered[strings.TrimSuffix(mirror, "/")]
		}
		if ok {
			reachable = append(reachable, r)
		} else {
			unreachable = append(unreachable, r)
		}
	}
	return reachable, unreachable
}

// probeRegistryHTTP: the registry API at base answers HTTP within registryProbeWait; any status
// counts (401 is a live registry). The certificate is not checked: nothing is read or sent, and a
// mirror with a self-signed certificate (--insecure-mirror) is reachable too.
func probeRegistryHTTP(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, registryProbeWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // reachability only
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// pingDockerSocket: a Docker engine answers _ping on the unix socket.
func pingDockerSocket(ctx context.Context, socket string) bool {
	if _, err := os.Stat(socket); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// makeRunCheck is doctor's line saying which path make run takes here.
func makeRunCheck(f makeRunFacts) Check {
	c := Check{Name: "make run", Verdict: OK}
	var engine, images string
	var fixes []string
	privateEngine := false
	switch {
	case f.EngineIsPrivate:
		engine, privateEngine = "kindstack's private engine ("+f.PrivateSocket+", through DOCKER_HOST)", true
	case f.Engine != "":
		engine = "yours (" + strings.TrimSpace(f.Engine+" "+f.EngineVersion) + ")"
	case f.PrivateAnswers:
		engine, privateEngine = "kindstack's private engine, running ("+f.PrivateSocket+")", true
		fixes = append(fixes, "export DOCKER_HOST=unix://"+f.PrivateSocket+" to reach it with kindstack and docker")
	case f.CanStartPrivate:
		engine, privateEngine = "none answers, so kindstack's private engine is started (Debian's docker.io; "+f.PrivateSocket+")", true
	default:
		engine, c.Verdict = "none answers, and only root can start kindstack's own: make run stops", Fail
		fixes = append(fixes, "start Docker (or install Debian's docker.io and run make run as root)")
	}
	switch {
	case f.Bundle:
		images = "from the bundle (--bundle)"
	case len(f.Unreachable) == 0 && len(f.Reachable) == 0:
		images = "pulled"
	case len(f.Unreachable) == 0:
		images = "pulled (" + strings.Join(f.Reachable, ", ") + " answer)"
	default:
		images = "built from source, as no registry or mirror answers for " + strings.Join(f.Unreachable, ", ")
		canBuild := f.Root && (privateEngine || f.Engine == "docker")
		switch {
		case !canBuild:
			c.Verdict = Fail
			images += "; but the build needs root and a Docker engine"
			fixes = append(fixes, "run make offline-images as root once, or give --registry-mirror REGISTRY=URL or --bundle FILE")
		case f.OfflineCached:
			images += "; cached (" + f.OfflineConfig + "), checked again in seconds"
		default:
			images += "; not built yet: the first make run builds them (" + offlineColdBuild + ")"
			if c.Verdict == OK {
				c.Verdict = Warn
			}
			fixes = append(fixes, "make offline-images builds them ahead; --registry-mirror or --bundle avoid the build")
		}
	}
	c.Detail = "engine: " + engine + "; images: " + images
	c.Fix = strings.Join(fixes, "; ")
	return c
}
