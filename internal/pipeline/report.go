package pipeline

import (
	"time"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/steps"
)

// UpSummary is `up -o json`: one object on stdout, also when `up` fails.
type UpSummary struct {
	Name       string   `json:"name"`
	Ready      bool     `json:"ready"`   // everything was waited for and is ready
	Waited     bool     `json:"waited"`  // false with --wait=false: components applied, not waited for
	Created    bool     `json:"created"` // false: an existing cluster was reused
	Context    string   `json:"context,omitempty"`
	Kubeconfig string   `json:"kubeconfig,omitempty"` // file holding the context
	URLs       []string `json:"urls"`
	// Route says how the smoke test reached the ingress on a cluster without host ports, e.g.
	// "NodePort 31380 on node x (172.18.0.2)"; Again is the command that opens a port-forward again.
	Route   string       `json:"route,omitempty"`
	Again   string       `json:"again,omitempty"`
	Seconds float64      `json:"seconds"`
	Timings []TimingJSON `json:"timings"`
	Error   string       `json:"error,omitempty"`
}

// DownResult is `down -o json`.
type DownResult struct {
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"` // a cluster existed and was deleted; false when there was none
	// Removed counts the objects `down --context` deleted (what kindstack's inventory recorded).
	Removed int          `json:"removed,omitempty"`
	Timings []TimingJSON `json:"timings"`
}

// StatusReport is `status -o json`: one stable object on stdout.
type StatusReport struct {
	Ready      bool              `json:"ready"` // cluster ready and every component ready
	Cluster    cluster.Status    `json:"cluster"`
	Components []ComponentStatus `json:"components"`
	// Ingress is the component serving Ingresses (and Gateways): ingress-nginx or traefik.
	Ingress string `json:"ingress,omitempty"`
	// Capabilities says where each capability comes from: a component kindstack installs, or the
	// cluster's own ("the cluster's own: APIService v1beta1.metrics.k8s.io ...").
	Capabilities map[string]string `json:"capabilities,omitempty"`
	// Leftovers are objects an earlier run installed that these settings no longer want;
	// the next `up` prunes them.
	Leftovers []string `json:"leftovers,omitempty"`
	// Beside are the containers beside the nodes (a local registry): running or why not.
	Beside  []BesideStatus `json:"beside,omitempty"`
	Problem string         `json:"problem,omitempty"` // why status could not look (e.g. no runtime)
}

// ComponentStatus is one component in `status`.
type ComponentStatus struct {
	Name   string `json:"name"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"` // why not ready, one sentence
}

// TimingJSON is one step's (or phase's) start and duration in JSON summaries.
type TimingJSON struct {
	Step string `json:"step"`
	// Start is when it started, in seconds since the command's first step started.
	Start   float64 `json:"start"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

func timingsJSON(ts []steps.Timing) []TimingJSON {
	out := make([]TimingJSON, 0, len(ts))
	var origin time.Time
	if len(ts) > 0 {
		origin = ts[0].Start
	}
	for _, t := range ts {
		tj := TimingJSON{Step: t.Step, Start: seconds(t.Start.Sub(origin)), Seconds: seconds(t.Duration)}
		if t.Err != nil {
			tj.Error = t.Err.Error()
		}
		out = append(out, tj)
	}
	return out
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
