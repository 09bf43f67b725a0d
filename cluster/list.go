package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// ClusterInfo is one kindstack cluster in `kindstack list`.
type ClusterInfo struct {
	Name    string `json:"name"`
	State   string `json:"state"` // running, stopped (exited, paused, ...), or missing (deleted outside kindstack)
	Context string `json:"context"`
	Spec    *Spec  `json:"spec,omitempty"` // as recorded when kindstack created it
}

// List returns the clusters this machine's kindstack created, with their state, sorted by name.
// Other kind clusters are not listed: they are not kindstack's.
func (m *Manager) List(ctx context.Context) ([]ClusterInfo, error) {
	rt, _, err := m.engine(ctx, nil)
	if err != nil {
		return nil, err
	}
	names, err := m.NewProvider(rt, nil).List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	var entries []os.DirEntry
	dir, err := m.stateDir(false)
	switch {
	case errors.Is(err, errNoDir):
	case err != nil:
		return nil, err
	default:
		if entries, err = os.ReadDir(dir); err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
	}
	var out []ClusterInfo
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		rec, ok := m.recorded(name)
		if !ok {
			continue
		}
		info := ClusterInfo{Name: name, Context: ContextName(name), Spec: &rec.Spec, State: "missing (deleted outside kindstack)"}
		if slices.Contains(names, name) {
			info.State = "running"
			if nodes, err := m.nodeContainers(ctx, rt, name); err == nil {
				if stopped := stoppedNodes(nodes); len(stopped) > 0 {
					info.State = stopped[0].State
				}
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Kubeconfig returns the cluster's kubeconfig as kind writes it: for the host, or with internal
// for other containers on kind's network.
func (m *Manager) Kubeconfig(ctx context.Context, name string, internal bool) ([]byte, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	rt, _, err := m.engine(ctx, nil)
	if err != nil {
		return nil, err
	}
	provider := m.NewProvider(rt, nil)
	names, err := provider.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("cluster %q does not exist; run `kindstack up` to create it", name)
	}
	kc, err := provider.KubeConfig(name, internal)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %q: %w", name, err)
	}
	return []byte(kc), nil
}

// CollectNodeLogs writes what kind exports of the cluster's nodes into dir: each node's journal,
// kubelet and containerd logs, /var/log (with every pod's logs), its images and the runtime's
// inspect. A node that does not answer cannot hold the command past ctx.
func (m *Manager) CollectNodeLogs(ctx context.Context, name, dir string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	rt, _, err := m.engine(ctx, nil)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- m.NewProvider(rt, nil).CollectLogs(name, dir) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("node logs of %q: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node logs of %q: %w (what was collected is kept)", name, context.Cause(ctx))
	}
}
