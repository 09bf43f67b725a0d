//go:build e2e

package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

// benchRuns is how many rounds BenchmarkUp measures (KINDSTACK_BENCH_RUNS, default 3); the
// tables give medians.
func benchRuns(tb testing.TB) int {
	if v := os.Getenv("KINDSTACK_BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(tb, err, "KINDSTACK_BENCH_RUNS")
		return n
	}
	return 3
}

// BenchmarkUp (make bench-e2e, -benchtime 1x) measures on one machine, in rounds whose order
// alternates:
//   - a bare kind cluster: kind's library, the same node image, waiting for Ready;
//   - `kindstack up` from nothing to everything ready (the gates of every up, HPAs included), with
//     the first HTTP 200 of /api/healthy through the host port seen while it runs; `up` again on
//     the ready cluster, `status`, and `down`;
//   - the same `up` from the node image baked with the stack's images (`images bake`, once, before
//     the first round), then `recreate` (which uses it too), and `down`;
//   - the tutorial done by hand with the real kind CLI and kubectl (e2e/testbed/tutorial.sh), to
//     its first HTTP 200 through the host port.
//
// It prints the medians against issue 20's goals and the critical path of the median `up` of
// each kind, and writes both to $KINDSTACK_BENCH_OUT (markdown) and between the bench markers of
// $KINDSTACK_BENCH_README when set.
func BenchmarkUp(b *testing.B) {
	runs := benchRuns(b)
	w := newWorld(b, "kse2e-bench")
	_, st := w.status(b)
	require.False(b, st.Cluster.Exists, "cluster %s exists; remove it with `kindstack down --name %s`", w.name, w.name)
	b.Cleanup(func() {
		w.run(b, 5*time.Minute, w.config, "down")
		w.exec(b, time.Minute, []string{"images", "unbake"})
	})
	tutorial := filepath.Join("testbed", "tutorial.sh")
	out, err := exec.Command("bash", tutorial, "build").CombinedOutput()
	require.NoError(b, err, "tutorial.sh build: %s", out)

	opt, err := kindcluster.DetectNodeProvider()
	require.NoError(b, err, "kind node provider")
	provider := kindcluster.NewProvider(opt)
	image := nodeImage(b, w)
	bareKubeconfig := filepath.Join(b.TempDir(), "bare-kubeconfig")

	cfg := []string{}
	if w.config != "" {
		cfg = []string{"--config", w.config}
	}
	r := w.exec(b, 15*time.Minute, append([]string{"images", "bake", "-o", "json"}, cfg...))
	require.Equal(b, 0, r.code, "%s", r)
	var baked bakedImage
	require.NoError(b, json.Unmarshal([]byte(r.stdout), &baked), "%s", r)
	bake := bakeNote{seconds: r.duration.Seconds(), ref: baked.Ref, added: baked.Added, built: baked.Built}
	m := map[string][]float64{}
	ups := map[string][]upSummary{}
	bare := func() {
		start := time.Now()
		err := provider.Create("kse2e-bare",
			kindcluster.CreateWithNodeImage(image),
			kindcluster.CreateWithWaitForReady(10*time.Minute),
			kindcluster.CreateWithKubeconfigPath(bareKubeconfig),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
		m["bare"] = append(m["bare"], time.Since(start).Seconds())
		delErr := provider.Delete("kse2e-bare", bareKubeconfig)
		require.NoError(b, err, "bare kind create with %s", image)
		require.NoError(b, delErr, "delete bare cluster")
	}
	byHand := func() {
		name := "kse2e-tutorial"
		cmd := exec.Command("bash", tutorial, "run", name, strconv.Itoa(w.httpPort), strconv.Itoa(w.httpsPort))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		del, delErr := exec.Command("bash", tutorial, "delete", name).CombinedOutput()
		require.NoError(b, err, "tutorial.sh run: %s", out)
		require.NoError(b, delErr, "tutorial.sh delete: %s", del)
		f := strings.Fields(string(out))
		require.Len(b, f, 2, "tutorial.sh run printed %q", out)
		s, err := strconv.ParseFloat(f[1], 64)
		require.NoError(b, err)
		m["tutorial"] = append(m["tutorial"], s)
	}
	// up runs `command` from nothing, noting its time as key, its first HTTP 200 as key+"-200"
	// and its peak RSS as key+"-rss".
	up := func(key, command string) result {
		first := firstOK(baseURL(w) + "/api/healthy")
		r, sum := w.up(b, command, w.config, upTimeout)
		seen := first()
		require.Equal(b, 0, r.code, "%s", r)
		require.True(b, sum.Ready)
		require.Positive(b, seen, "/api/healthy never answered 200 through the ingress while `%s` ran", command)
		ups[key] = append(ups[key], sum)
		m[key] = append(m[key], sum.Seconds)
		// The first 200 is timed from the process start, as `up`'s seconds are from its first step.
		m[key+"-200"] = append(m[key+"-200"], seen-(r.duration.Seconds()-sum.Seconds))
		m[key+"-rss"] = append(m[key+"-rss"], float64(r.maxRSSKB)/1024)
		return r
	}
	plainUp := func() {
		up("up", "up")
		r, _ := w.up(b, "up", w.config, upTimeout)
		require.Equal(b, 0, r.code, "%s", r)
		m["again"] = append(m["again"], r.duration.Seconds())
		r, st := w.status(b)
		require.True(b, st.Ready, "%s", r)
		m["status"] = append(m["status"], r.duration.Seconds())
		r = w.run(b, 5*time.Minute, w.config, "down")
		require.Equal(b, 0, r.code, "%s", r)
	}
	bakedUp := func() {
		r := up("baked", "up")
		require.Contains(b, r.stderr, "from baked node image "+bake.ref, "`up` used the baked node image")
		r, sum := w.up(b, "recreate", w.config, upTimeout)
		require.Equal(b, 0, r.code, "%s", r)
		require.Contains(b, r.stderr, "from baked node image "+bake.ref, "`recreate` used the baked node image")
		m["recreate"] = append(m["recreate"], sum.Seconds)
		r = w.run(b, 5*time.Minute, w.config, "down")
		require.Equal(b, 0, r.code, "%s", r)
	}
	for i := 0; i < runs; i++ {
		if i%2 == 0 {
			bare()
			plainUp()
			bakedUp()
			byHand()
		} else {
			byHand()
			bakedUp()
			plainUp()
			bare()
		}
	}

	report := benchReport(m, ups, image, runs, bake)
	b.Log("\n" + report)
	if p := os.Getenv("KINDSTACK_BENCH_OUT"); p != "" {
		require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(b, os.WriteFile(p, []byte(report), 0o644))
	}
	if p := os.Getenv("KINDSTACK_BENCH_README"); p != "" {
		require.NoError(b, replaceBetweenMarkers(p, report))
	}
	b.ReportMetric(median(m["bare"]), "bare-kind-s")
	b.ReportMetric(median(m["up"]), "up-s")
	b.ReportMetric(median(m["baked"]), "up-baked-s")
	b.ReportMetric(median(m["up"])/median(m["bare"]), "up/bare")
	b.ReportMetric(median(m["tutorial"]), "tutorial-s")
}

// bakeNote is what `images bake` took, once, before the rounds.
type bakeNote struct {
	seconds float64
	ref     string
	added   int64
	built   bool // false: it was there already
}

// firstOK polls url every 200 ms from now on; the function it returns stops the polling and
// gives the seconds from now to the first 200, or 0 when none came.
func firstOK(url string) func() float64 {
	start := time.Now()
	stop := make(chan struct{})
	got := make(chan float64, 1)
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(got)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if resp, err := client.Get(url); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					got <- time.Since(start).Seconds()
					return
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		return <-got
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchReport is the bench's markdown: the medians against issue 20's goals, then the critical
// path of the median `up` from nothing and of the median `up` from the baked node image.
func benchReport(m map[string][]float64, ups map[string][]upSummary, image string, runs int, bake bakeNote) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured by `make bench-e2e` on %s (%s/%s, %d CPUs), node image %s, %s, medians of %d runs.\n\n",
		host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), image, time.Now().UTC().Format("2006-01-02"), runs)
	bare := median(m["bare"])
	row := func(what string, key string, goal string, ok bool) {
		verdict := "met"
		if !ok {
			verdict = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s | %s |\n", what, median(m[key]), joinf(m[key]), goal, verdict)
	}
	times := func(key string, factor float64) (string, bool) {
		v := median(m[key])
		return fmt.Sprintf("≤ %.1f× bare = %.1f (now %.2f×)", factor, factor*bare, v/bare), v <= factor*bare
	}
	b.WriteString("| measured | median | runs | goal | |\n|---|---:|---|---|---|\n")
	fmt.Fprintf(&b, "| bare kind cluster (s) | %.2f | %s | | |\n", bare, joinf(m["bare"]))
	goal, ok := times("up", 2.6)
	row("`kindstack up` from nothing to all ready (s)", "up", goal, ok)
	goal, ok = times("baked", 2.0)
	row("the same from the baked node image (s)", "baked", goal, ok)
	goal, ok = times("up-200", 1.5)
	row("first HTTP 200 through the ingress during `up` (s)", "up-200", goal, ok)
	goal, ok = times("baked-200", 1.5)
	row("the same from the baked node image (s)", "baked-200", goal, ok)
	goal, ok = times("recreate", 1.5)
	row("`kindstack recreate`, baked node image (s)", "recreate", goal, ok)
	row("`kindstack up` on the ready cluster (s)", "again", "≤ 1.5", median(m["again"]) <= 1.5)
	row("`kindstack status` (s)", "status", "≤ 0.3", median(m["status"]) <= 0.3)
	row("peak RSS of `kindstack up` (MiB)", "up-rss", "≤ 100", median(m["up-rss"]) <= 100)
	row("the tutorial by hand to its first 200 (s)", "tutorial", fmt.Sprintf("> up (%.1f)", median(m["up"])), median(m["tutorial"]) > median(m["up"]))
	how := fmt.Sprintf("built %s in %.1f s", bake.ref, bake.seconds)
	if !bake.built {
		how = fmt.Sprintf("found %s already built (%.1f s)", bake.ref, bake.seconds)
	}
	fmt.Fprintf(&b, "\n`images bake`, once before the rounds, %s; it takes %.1f MiB beyond the node image.\n",
		how, float64(bake.added)/(1<<20))

	for _, k := range []struct{ key, what string }{{"up", "`up` from nothing"}, {"baked", "`up` from the baked node image"}} {
		if len(ups[k.key]) == 0 {
			continue
		}
		sorted := slices.Clone(ups[k.key])
		slices.SortFunc(sorted, func(a, b upSummary) int { return cmp.Compare(a.Seconds, b.Seconds) })
		mid := sorted[len(sorted)/2]
		fmt.Fprintf(&b, "\nCritical path of the median %s (%.1f s): each phase's start and end, in seconds since `up` began.\n\n", k.what, mid.Seconds)
		b.WriteString("| phase | start | end | took |\n|---|---:|---:|---:|\n")
		timings := slices.Clone(mid.Timings)
		slices.SortStableFunc(timings, func(a, b stepTiming) int { return cmp.Compare(a.Start, b.Start) })
		short := regexp.MustCompile(`^Install components/Install `)
		for _, t := range timings {
			if t.Step == "Install components" || (t.Seconds < 0.05 && strings.Count(t.Step, "/") > 1) {
				continue
			}
			fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f |\n", short.ReplaceAllString(t.Step, ""), t.Start, t.Start+t.Seconds, t.Seconds)
		}
	}
	return b.String()
}

func joinf(xs []float64) string {
	var out []string
	for _, v := range xs {
		out = append(out, fmt.Sprintf("%.1f", v))
	}
	return strings.Join(out, ", ")
}

const (
	benchStart = "<!-- bench:start (make bench-e2e writes this) -->"
	benchEnd   = "<!-- bench:end -->"
)

// replaceBetweenMarkers puts text between the bench markers of the file at path.
func replaceBetweenMarkers(path, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, benchStart), strings.Index(s, benchEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q section", path, benchStart, benchEnd)
	}
	s = s[:i+len(benchStart)] + "\n" + text + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
