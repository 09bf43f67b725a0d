package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// A kind cluster's name is no identity: delete it outside kindstack and `kind create cluster`
// takes the name again. What tells one cluster from the next is its node containers, whose IDs
// the runtime never gives twice. kind v0.33.0 puts no label of the caller's on a node container
// (a v1alpha4 node's labels are Kubernetes node labels), so kindstack records the IDs the
// runtime shows once kind has made the containers.

// nodeIDs returns the full IDs of the cluster's node containers, sorted.
func (m *Manager) nodeIDs(ctx context.Context, rt Runtime, cluster string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := m.Run(ctx, rt.Binary, "ps", "-a", "--no-trunc", "--filter", "label="+kindClusterLabel+"="+cluster, "--format", "{{.ID}}")
	if err != nil {
		return nil, fmt.Errorf("%s ps: %s: %w", rt.Name, lastLine(out), err)
	}
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if id := strings.TrimSpace(line); id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// vouchesFor says why recorded node IDs do not speak for the cluster whose node containers are
// now current, or "" when they do: every current container is one that was recorded. A cluster
// made again under the name has containers no record names.
func vouchesFor(recorded, current []string) string {
	switch {
	case len(recorded) == 0:
		return "it names no node container, so it cannot tell this cluster from another one that took the name"
	case len(current) == 0:
		return "the cluster shows no node container to compare with"
	}
	for _, id := range current {
		if !slices.Contains(recorded, id) {
			return fmt.Sprintf("its node containers are not the ones recorded (%s is new), so the cluster was made again since", shortID(id))
		}
	}
	return ""
}

// shortID is a container ID as `docker ps` prints it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// identityOf compares what a marker or record names with the cluster's node containers now.
func (m *Manager) identityOf(ctx context.Context, rt Runtime, cluster string, recorded []string) string {
	current, err := m.nodeIDs(ctx, rt, cluster)
	if err != nil {
		return fmt.Sprintf("the node containers cannot be listed to compare with (%v)", err)
	}
	return vouchesFor(recorded, current)
}

// watchNodeIDs writes the IDs of the node containers kind is creating into the cluster's marker
// as soon as the runtime shows want of them, then stops; it also stops when ctx ends. A kindstack
// killed in between leaves a marker that names no container: the next `up` then refuses to
// delete the cluster rather than guess.
func (m *Manager) watchNodeIDs(ctx context.Context, rt Runtime, cluster string, want int) {
	var seen []string
	_ = wait.PollUntilContextCancel(ctx, configuredPoll, true, func(ctx context.Context) (bool, error) {
		ids, err := m.nodeIDs(ctx, rt, cluster)
		if err != nil || len(ids) == 0 || slices.Equal(ids, seen) {
			return false, nil
		}
		if m.markCreatingNodes(cluster, ids) == nil {
			seen = ids
		}
		return len(seen) >= want, nil
	})
}
