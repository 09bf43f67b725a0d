//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/config"
)

// nodeImage is the node image kindstack would use with the test's config.
func nodeImage(tb testing.TB, w *world) string {
	tb.Helper()
	if w.config == "" {
		return config.Defaults().NodeImage
	}
	data, err := os.ReadFile(w.config)
	require.NoError(tb, err)
	var stack struct {
		NodeImage string `json:"nodeImage"`
	}
	require.NoError(tb, yaml.Unmarshal(data, &stack))
	if stack.NodeImage == "" {
		return config.Defaults().NodeImage
	}
	return stack.NodeImage
}

// BenchmarkUp measures, on the same machine in one run: a bare kind cluster (kind's library, same
// node image, wait for Ready), `kindstack up` to fully ready from nothing, `kindstack recreate`,
// and `kindstack up --ingress traefik` from nothing (the two controllers side by side).
// Goal: up <= 1.5x bare once images are present. Run with -benchtime 1x.
func BenchmarkUp(b *testing.B) {
	w := newWorld(b, "kse2e-bench")
	_, st := w.status(b)
	require.False(b, st.Cluster.Exists, "cluster %s exists; remove it with `kindstack down --name %s`", w.name, w.name)
	b.Cleanup(func() { w.run(b, 5*time.Minute, w.config, "down") })

	opt, err := kindcluster.DetectNodeProvider()
	require.NoError(b, err, "kind node provider")
	provider := kindcluster.NewProvider(opt)
	image := nodeImage(b, w)
	bareName := "kse2e-bare"
	bareKubeconfig := filepath.Join(b.TempDir(), "bare-kubeconfig")

	var bare, up, recreate, upTraefik float64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		err := provider.Create(bareName,
			kindcluster.CreateWithNodeImage(image),
			kindcluster.CreateWithWaitForReady(10*time.Minute),
			kindcluster.CreateWithKubeconfigPath(bareKubeconfig),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
		bare += time.Since(start).Seconds()
		delErr := provider.Delete(bareName, bareKubeconfig)
		require.NoError(b, err, "bare kind create with %s", image)
		require.NoError(b, delErr, "delete bare cluster")

		r, sum := w.up(b, "up", w.config, upTimeout)
		require.Equal(b, 0, r.code, "%s", r)
		up += sum.Seconds

		r, sum = w.up(b, "recreate", w.config, upTimeout)
		require.Equal(b, 0, r.code, "%s", r)
		recreate += sum.Seconds

		r = w.run(b, 5*time.Minute, w.config, "down")
		require.Equal(b, 0, r.code, "%s", r)

		r, sum = w.up(b, "up", w.config, upTimeout, "--ingress", "traefik")
		require.Equal(b, 0, r.code, "%s", r)
		upTraefik += sum.Seconds
		r = w.run(b, 5*time.Minute, w.config, "down")
		require.Equal(b, 0, r.code, "%s", r)
	}
	n := float64(b.N)
	b.ReportMetric(bare/n, "bare-kind-s")
	b.ReportMetric(up/n, "up-s")
	b.ReportMetric(recreate/n, "recreate-s")
	b.ReportMetric(upTraefik/n, "up-traefik-s")
	b.ReportMetric(up/bare, "up/bare")
	b.Logf("node image %s: bare kind %.1fs, kindstack up %.1fs (%.2fx), recreate %.1fs, up --ingress traefik %.1fs",
		image, bare/n, up/n, up/bare, recreate/n, upTraefik/n)
}
