// Package testenv runs a real Kubernetes control plane for kindstack's integration tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler as local processes on loopback ports
// chosen at run time, with certificates generated in Go. There is no kubelet: StartNode registers a
// Node and plays its kubelet through the API so pods can become Ready.
//
// The binaries come from the test bed cache (e2e/testbed/controlplane.sh prepare builds them once
// from the k8s.io/kubernetes Go module). Every ControlPlane has its own directory, ports and etcd,
// so test packages run in parallel without colliding. Run the integration tier with:
//
//	bash e2e/testbed/controlplane.sh prepare     # once; cold 10-20 min, then cached
//	go test -tags integration -parallel 8 ./...
//
// Without the binaries New skips the test, naming that command; under CI=true it fails instead.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Binaries are the executables a control plane runs.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
}

// BuildCommand is what a person runs to build or install missing binaries.
const BuildCommand = "bash e2e/testbed/controlplane.sh prepare"

// Environment variables that override where binaries are found.
const (
	EnvK8sBinDir = "KINDSTACK_K8S_BIN_DIR" // directory holding kube-apiserver, kube-controller-manager, kube-scheduler
	EnvEtcd      = "KINDSTACK_ETCD"        // path of the etcd binary
)

// FindBinaries locates the control plane binaries: $KINDSTACK_K8S_BIN_DIR and $KINDSTACK_ETCD if
// set, else where e2e/testbed/controlplane.sh says the test bed keeps them (repoRoot is the
// repository holding that script). A missing binary is an error naming it and BuildCommand.
func FindBinaries(ctx context.Context, repoRoot string) (Binaries, error) {
	binDir, etcd := os.Getenv(EnvK8sBinDir), os.Getenv(EnvEtcd)
	if binDir == "" || etcd == "" {
		paths, err := testbedPaths(ctx, repoRoot)
		if err != nil {
			return Binaries{}, err
		}
		if binDir == "" {
			binDir = paths["K8S_BIN_DIR"]
		}
		if etcd == "" {
			etcd = paths["ETCD"]
		}
	}
	b := Binaries{
		Etcd:              etcd,
		APIServer:         filepath.Join(binDir, "kube-apiserver"),
		ControllerManager: filepath.Join(binDir, "kube-controller-manager"),
		Scheduler:         filepath.Join(binDir, "kube-scheduler"),
	}
	var missing []string
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler} {
		if p == "" {
			missing = append(missing, "etcd (none on PATH or in the test bed cache)")
			continue
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("control plane binaries missing: %s; build them with `%s` (cold: 10-20 min on 2 cores, then cached)",
			strings.Join(missing, ", "), BuildCommand)
	}
	return b, nil
}

// testbedPaths asks controlplane.sh where the binaries live, so the versions stay in one place (lib.sh).
func testbedPaths(ctx context.Context, repoRoot string) (map[string]string, error) {
	script := filepath.Join(repoRoot, "e2e", "testbed", "controlplane.sh")
	out, err := exec.CommandContext(ctx, "bash", script, "paths").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("ask %s for the binaries' paths: %w", script, err)
	}
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			paths[k] = v
		}
	}
	return paths, nil
}

// RepoRoot walks up from dir to the directory whose go.mod declares kindstack's module.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/kindstack/kindstack\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no kindstack go.mod above %s", dir)
		}
	}
}

// Options configure Start.
type Options struct {
	// Dir holds certificates, etcd's data, kubeconfigs and logs. Required; it must be private to
	// this control plane (tests pass t.TempDir()).
	Dir string
}

// Timings are measured start-up durations.
type Timings struct {
	// APIServerReady is from Start until kube-apiserver's /readyz passed.
	APIServerReady time.Duration
	// Ready is from Start until the controller-manager created the default ServiceAccount.
	Ready time.Duration
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Kubeconfig is a self-contained admin (system:masters) kubeconfig.
	Kubeconfig []byte
	// Dir is the control plane's directory; logs are in Dir/logs.
	Dir     string
	Timings Timings
	procs   []*process
}

// startAttempts is how often Start picks new ports when another process grabbed one first.
const startAttempts = 3

// Start runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler and returns once the
// API server is ready and the controller-manager works (the default ServiceAccount exists).
// On error everything started is stopped. Callers Stop the returned control plane.
func Start(ctx context.Context, bins Binaries, opts Options) (*ControlPlane, error) {
	if opts.Dir == "" {
		return nil, errors.New("start control plane: Options.Dir is required")
	}
	start := time.Now()
	p, err := newPKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cp := &ControlPlane{Dir: opts.Dir}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	var apiPort int
	for attempt := 1; ; attempt++ {
		apiPort, err = cp.startStorageAndAPIServer(ctx, bins, p, attempt)
		if err == nil {
			break
		}
		cp.Stop()
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return nil, fmt.Errorf("start control plane: %w", err)
		}
	}
	cp.Timings.APIServerReady = time.Since(start)

	cp.Kubeconfig, err = kubeconfig(p, apiPort)
	if err == nil {
		err = os.WriteFile(filepath.Join(opts.Dir, "kubeconfig"), cp.Kubeconfig, 0o600)
	}
	if err == nil {
		err = cp.startControllers(bins, p)
	}
	if err == nil {
		err = cp.waitDefaultServiceAccount(ctx)
	}
	if err != nil {
		cp.Stop()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	cp.Timings.Ready = time.Since(start)
	return cp, nil
}

var errPortTaken = errors.New("port taken")

// startStorageAndAPIServer starts etcd and kube-apiserver on fresh free ports and waits for them.
func (cp *ControlPlane) startStorageAndAPIServer(ctx context.Context, bins Binaries, p *pki, attempt int) (int, error) {
	ports, err := freePorts(3)
	if err != nil {
		return 0, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	dataDir := filepath.Join(cp.Dir, "etcd-data-"+strconv.Itoa(attempt))
	etcd, err := cp.run("etcd", bins.Etcd,
		"--name=testenv", "--data-dir="+dataDir,
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL,
	)
	if err != nil {
		return 0, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitUntil(ctx, etcd, 60*time.Second, func() bool {
		return httpOK(plain, etcdURL+"/health", `"true"`)
	}); err != nil {
		return 0, err
	}

	f := p.files
	api, err := cp.run("kube-apiserver", bins.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(cp.Dir, "pki"),
		"--tls-cert-file="+f["apiserver.crt"], "--tls-private-key-file="+f["apiserver.key"],
		"--client-ca-file="+f["ca.crt"],
		"--service-account-key-file="+f["sa.pub"], "--service-account-signing-key-file="+f["sa.key"],
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		// One process, few clients: fairness queues only add latency here.
		"--enable-priority-and-fairness=false",
		// The advertised 127.0.0.1 is not a valid endpoint for the kubernetes Service; skip it.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	)
	if err != nil {
		return 0, err
	}
	tlsClient, err := adminHTTPClient(p)
	if err != nil {
		return 0, err
	}
	readyz := "https://127.0.0.1:" + strconv.Itoa(apiPort) + "/readyz"
	if err := waitUntil(ctx, api, 90*time.Second, func() bool { return httpOK(tlsClient, readyz, "ok") }); err != nil {
		return 0, err
	}
	return apiPort, nil
}

// startControllers starts kube-controller-manager and kube-scheduler. Neither serves HTTPS
// (--secure-port=0): nothing here scrapes them, and it leaves no port to collide on.
func (cp *ControlPlane) startControllers(bins Binaries, p *pki) error {
	kc := filepath.Join(cp.Dir, "kubeconfig")
	f := p.files
	if _, err := cp.run("kube-controller-manager", bins.ControllerManager,
		"--kubeconfig="+kc, "--secure-port=0", "--leader-elect=false",
		"--service-account-private-key-file="+f["sa.key"], "--root-ca-file="+f["ca.crt"],
		"--cluster-signing-cert-file="+f["ca.crt"], "--cluster-signing-key-file="+f["ca.key"],
		"--use-service-account-credentials=true", "--controllers=*",
	); err != nil {
		return err
	}
	_, err := cp.run("kube-scheduler", bins.Scheduler, "--kubeconfig="+kc, "--secure-port=0", "--leader-elect=false")
	return err
}

func (cp *ControlPlane) waitDefaultServiceAccount(ctx context.Context) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(cp.Kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var kcm *process
	for _, p := range cp.procs {
		if p.name == "kube-controller-manager" {
			kcm = p
		}
	}
	return waitUntil(ctx, kcm, 90*time.Second, func() bool {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}

// Stop stops every process, newest first, and waits for them to exit. It is safe to call twice.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		cp.procs[i].stop()
	}
	cp.procs = nil
}

// LogTail returns the last n lines of every component's log, for a failing test's output.
func (cp *ControlPlane) LogTail(n int) string {
	var b strings.Builder
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		path := filepath.Join(cp.Dir, "logs", name+".log")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s (last %d lines) ---\n%s\n", path, n, tail(path, n))
	}
	return b.String()
}

// process is one running component.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// run starts a component with its output in Dir/logs/<name>.log.
func (cp *ControlPlane) run(name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(cp.Dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = cp.Dir
	// Kill the component if the test binary dies without calling Stop (where the OS can).
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	cp.procs = append(cp.procs, p)
	return p, nil
}

// stop asks the process to terminate, then kills it if it has not exited after a grace period.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	terminate(p.cmd.Process)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitUntil polls ok until it returns true, the process exits, the limit passes or ctx ends.
func waitUntil(ctx context.Context, p *process, limit time.Duration, ok func() bool) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok() {
			return nil
		}
		select {
		case <-p.done:
			logTail := tail(p.log, 15)
			err := fmt.Errorf("%s exited (%v); last log lines:\n%s", p.name, p.err, logTail)
			if strings.Contains(logTail, "address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-deadline.C:
			return fmt.Errorf("%s not ready after %s; last log lines:\n%s", p.name, limit, tail(p.log, 15))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.name, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func httpOK(c *http.Client, url, want string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), want)
}

func adminHTTPClient(p *pki) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.caCert) {
		return nil, errors.New("parse CA certificate")
	}
	cert, err := tls.X509KeyPair(p.adminCert, p.adminKey)
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

// kubeconfig returns an admin kubeconfig with the certificates embedded.
func kubeconfig(p *pki, port int) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{
		Server:                   "https://127.0.0.1:" + strconv.Itoa(port),
		CertificateAuthorityData: p.caCert,
	}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCert, ClientKeyData: p.adminKey}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "admin"}
	cfg.CurrentContext = "testenv"
	return clientcmd.Write(*cfg)
}

// freePorts returns n distinct loopback ports that were free a moment ago. Another process may take
// one before the component binds it; Start then retries with new ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
