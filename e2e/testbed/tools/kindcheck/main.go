// Command kindcheck proves the test bed end to end with kind's Go library (the product's version):
// it creates a cluster from the offline node image with the ingress-ready label and ports 80/443
// on 127.0.0.1, waits until the node and every kube-system pod are Ready, loads an image through
// nodeutils.LoadImageArchive and serves it on hostPort 80 (checked with an HTTP GET from the host),
// loads metrics-server and waits for `kubectl top nodes`, then deletes the cluster.
//
// `kindcheck serve` is the tiny HTTP server baked into the hostPort test image.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	"sigs.k8s.io/kind/pkg/cmd"
)

const greeting = "hello from the kindstack test bed"

type options struct {
	name, image, kubectl, workdir string
	msArchive, msImage, msBinary  string
	keep                          bool
	timeout                       time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "kindcheck serve:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.name, "name", "kindstack-testbed-check", "kind cluster name")
	flag.StringVar(&o.image, "image", "kindstack.test/kind-node:v1.33.13", "node image")
	flag.StringVar(&o.kubectl, "kubectl", "kubectl", "kubectl binary")
	flag.StringVar(&o.workdir, "workdir", os.TempDir(), "directory for kubeconfig and image archives")
	flag.StringVar(&o.msArchive, "metrics-server-archive", "", "docker-archive of the metrics-server image")
	flag.StringVar(&o.msImage, "metrics-server-image", "kindstack.test/metrics-server:v0.9.0", "metrics-server image name")
	flag.StringVar(&o.msBinary, "metrics-server-binary", "", "unused; kept for the caller's symmetry")
	flag.BoolVar(&o.keep, "keep", false, "keep the cluster")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "overall timeout")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	err := run(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kindcheck: FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("kindcheck: OK")
}

func serve() error {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, greeting) })
	return http.ListenAndServe(":8080", nil)
}

type timer struct{ start, last time.Time }

func (t *timer) step(format string, args ...any) {
	now := time.Now()
	fmt.Printf("kindcheck: %-55s %6.1fs (total %6.1fs)\n", fmt.Sprintf(format, args...), now.Sub(t.last).Seconds(), now.Sub(t.start).Seconds())
	t.last = now
}

func run(ctx context.Context, o options) (err error) {
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return fmt.Errorf("workdir: %w", err)
	}
	kubeconfig := filepath.Join(o.workdir, "kubeconfig")
	provider := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(cmd.NewLogger()))
	t := &timer{start: time.Now(), last: time.Now()}

	existing, err := provider.List()
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	for _, c := range existing {
		if c == o.name {
			if err := provider.Delete(o.name, kubeconfig); err != nil {
				return fmt.Errorf("delete leftover cluster: %w", err)
			}
			t.step("deleted leftover cluster %s", o.name)
		}
	}

	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Nodes: []v1alpha4.Node{{
			Role:   v1alpha4.ControlPlaneRole,
			Labels: map[string]string{"ingress-ready": "true"},
			ExtraPortMappings: []v1alpha4.PortMapping{
				{ContainerPort: 80, HostPort: 80, ListenAddress: "127.0.0.1", Protocol: v1alpha4.PortMappingProtocolTCP},
				{ContainerPort: 443, HostPort: 443, ListenAddress: "127.0.0.1", Protocol: v1alpha4.PortMappingProtocolTCP},
			},
		}},
	}
	if err := provider.Create(o.name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithNodeImage(o.image),
		cluster.CreateWithWaitForReady(4*time.Minute),
		cluster.CreateWithKubeconfigPath(kubeconfig),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	); err != nil {
		return fmt.Errorf("create cluster: %w", err)
	}
	t.step("cluster created, node Ready")
	if !o.keep {
		defer func() {
			if derr := provider.Delete(o.name, kubeconfig); derr != nil {
				err = errors.Join(err, fmt.Errorf("delete cluster: %w", derr))
				return
			}
			t.step("cluster deleted")
		}()
	}
	k := kubectlRunner{bin: o.kubectl, kubeconfig: kubeconfig}

	if _, err := k.run(ctx, nil, "get", "nodes", "-l", "ingress-ready=true", "-o", "name"); err != nil {
		return err
	}
	if out, _ := k.run(ctx, nil, "get", "nodes", "-l", "ingress-ready=true", "-o", "name"); strings.TrimSpace(out) == "" {
		return errors.New("no node carries the label ingress-ready=true")
	}
	if err := k.retry(ctx, 3*time.Minute, "wait", "--for=condition=Ready", "pods", "--all", "-n", "kube-system", "--timeout=20s"); err != nil {
		return fmt.Errorf("kube-system pods: %w", err)
	}
	pods, _ := k.run(ctx, nil, "get", "pods", "-n", "kube-system", "--no-headers")
	t.step("all %d kube-system pods Ready", strings.Count(strings.TrimSpace(pods), "\n")+1)

	nodeList, err := provider.ListInternalNodes(o.name)
	if err != nil || len(nodeList) == 0 {
		return fmt.Errorf("list nodes: %w", errors.Join(err, errors.New("no nodes")))
	}
	// hostPort 80 pod, image built from this binary and loaded through nodeutils.LoadImageArchive.
	webImage := "kindstack.test/kindcheck-web:dev"
	if err := buildWebImage(ctx, o.workdir, webImage); err != nil {
		return err
	}
	if err := loadImage(ctx, nodeList[0], webImage, ""); err != nil {
		return err
	}
	t.step("web image built and loaded")
	if _, err := k.run(ctx, []byte(hostPortPod(webImage)), "apply", "-f", "-"); err != nil {
		return err
	}
	if err := k.retry(ctx, 2*time.Minute, "wait", "--for=condition=Ready", "pod/hostport-web", "--timeout=20s"); err != nil {
		return fmt.Errorf("hostport pod: %w", err)
	}
	body, err := httpGet(ctx, "http://127.0.0.1:80/", time.Minute)
	if err != nil {
		return err
	}
	if !strings.Contains(body, greeting) {
		return fmt.Errorf("GET http://127.0.0.1:80/ answered %q, want %q", body, greeting)
	}
	t.step("curl http://127.0.0.1:80/ -> %q", strings.TrimSpace(body))

	if o.msArchive != "" {
		if err := loadImage(ctx, nodeList[0], o.msImage, o.msArchive); err != nil {
			return err
		}
		t.step("metrics-server image loaded")
		if _, err := k.run(ctx, []byte(metricsServerManifest(o.msImage)), "apply", "-f", "-"); err != nil {
			return err
		}
		if err := k.retry(ctx, 3*time.Minute, "wait", "--for=condition=Available", "apiservice/v1beta1.metrics.k8s.io", "--timeout=20s"); err != nil {
			return fmt.Errorf("metrics APIService: %w", err)
		}
		t.step("APIService v1beta1.metrics.k8s.io Available")
		if err := k.retry(ctx, 3*time.Minute, "top", "nodes"); err != nil {
			return fmt.Errorf("kubectl top nodes: %w", err)
		}
		top, _ := k.run(ctx, nil, "top", "nodes", "--no-headers")
		t.step("kubectl top nodes: %s", strings.Join(strings.Fields(top), " "))
	}
	return nil
}

type kubectlRunner struct{ bin, kubeconfig string }

func (k kubectlRunner) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	c := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// retry runs kubectl until it succeeds or the deadline passes; the last error is returned.
func (k kubectlRunner) retry(ctx context.Context, d time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		_, err := k.run(ctx, nil, args...)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

func buildWebImage(ctx context.Context, dir, image string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	bctx := filepath.Join(dir, "web")
	if err := os.MkdirAll(bctx, 0o755); err != nil {
		return fmt.Errorf("web image context: %w", err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("read own binary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bctx, "kindcheck"), data, 0o755); err != nil {
		return fmt.Errorf("web image binary: %w", err)
	}
	df := "FROM scratch\nCOPY kindcheck /kindcheck\nENTRYPOINT [\"/kindcheck\", \"serve\"]\n"
	if err := os.WriteFile(filepath.Join(bctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		return fmt.Errorf("web image Dockerfile: %w", err)
	}
	c := exec.CommandContext(ctx, "docker", "build", "-q", "-t", image, bctx)
	c.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build %s: %w: %s", image, err, out)
	}
	return nil
}

// loadImage streams a docker-archive (from a file, or `docker save IMAGE`) into the node.
func loadImage(ctx context.Context, n nodes.Node, image, archive string) error {
	var r io.Reader
	if archive != "" {
		f, err := os.Open(archive)
		if err != nil {
			return fmt.Errorf("open %s: %w", archive, err)
		}
		defer f.Close()
		r = f
	} else {
		out, err := exec.CommandContext(ctx, "docker", "save", image).Output()
		if err != nil {
			return fmt.Errorf("docker save %s: %w", image, err)
		}
		r = bytes.NewReader(out)
	}
	if err := nodeutils.LoadImageArchive(n, r); err != nil {
		return fmt.Errorf("load %s into %s: %w", image, n.String(), err)
	}
	if _, err := nodeutils.ImageID(n, image); err != nil {
		return fmt.Errorf("image %s not visible in the node after loading: %w", image, err)
	}
	return nil
}

func httpGet(ctx context.Context, url string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", fmt.Errorf("request %s: %w", url, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
			last = fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, b)
		} else {
			last = fmt.Errorf("GET %s: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return "", last
		case <-time.After(time.Second):
		}
	}
}
