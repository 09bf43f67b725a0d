package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// NodeContainer is one node's container as the runtime reports it.
type NodeContainer struct {
	Name  string `json:"name"`
	State string `json:"state"` // running, exited, paused, created, ...
}

// kindClusterLabel is the label kind puts on every node container of a cluster.
const kindClusterLabel = "io.x-k8s.kind.cluster"

// nodeContainers lists the cluster's node containers and their state. An error means the
// runtime could not say; callers then go on as if the nodes ran.
func (m *Manager) nodeContainers(ctx context.Context, rt Runtime, cluster string) ([]NodeContainer, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := m.Run(ctx, rt.Binary, "ps", "-a", "--filter", "label="+kindClusterLabel+"="+cluster, "--format", "{{.Names}}\t{{.State}}")
	if err != nil {
		return nil, fmt.Errorf("%s ps: %s: %w", rt.Name, lastLine(out), err)
	}
	var list []NodeContainer
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, state, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok && name != "" {
			list = append(list, NodeContainer{Name: name, State: containerState(state)})
		}
	}
	return list, nil
}

// containerState turns what `ps --format {{.State}}` says into one word: Docker says "running",
// Podman 4 says "Up 47 seconds ago" (and "Exited (137) 3 seconds ago", "Paused").
func containerState(s string) string {
	word, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(s)), " ")
	if word == "up" {
		return "running"
	}
	return word
}

// someNodes is nodeContainers for work that needs a node: no node at all is an error too.
func (m *Manager) someNodes(ctx context.Context, rt Runtime, cluster string) ([]NodeContainer, error) {
	nodes, err := m.nodeContainers(ctx, rt, cluster)
	if err == nil && len(nodes) == 0 {
		err = fmt.Errorf("cluster %s has no nodes", cluster)
	}
	return nodes, err
}

// stoppedNodes returns the node containers that are not running, as "name (state)".
func stoppedNodes(list []NodeContainer) []NodeContainer {
	var out []NodeContainer
	for _, n := range list {
		if n.State != "running" {
			out = append(out, n)
		}
	}
	return out
}

// notRunningError says which node containers do not run and what to type.
func notRunningError(rt Runtime, cluster string, stopped []NodeContainer) error {
	var parts, names []string
	for _, n := range stopped {
		parts = append(parts, fmt.Sprintf("%s is %s", n.Name, n.State))
		names = append(names, n.Name)
	}
	verb := "start"
	if len(stopped) > 0 && stopped[0].State == "paused" {
		verb = "unpause"
	}
	return fmt.Errorf("cluster %q is not running: node container %s; run `kindstack up --restart --name %s`, or `%s %s %s`",
		cluster, strings.Join(parts, ", "), cluster, rt.Binary, verb, strings.Join(names, " "))
}

// ensureRunning checks the cluster's node containers run. Stopped or paused ones are an error
// naming the next command, or, with restart, are started (unpaused) here.
func (m *Manager) ensureRunning(ctx context.Context, rt Runtime, cluster string, restart bool, logf Logf) error {
	list, err := m.nodeContainers(ctx, rt, cluster)
	if err != nil {
		logf("cannot list node containers (%v); going on", err)
		return nil
	}
	stopped := stoppedNodes(list)
	if len(stopped) == 0 {
		return nil
	}
	if !restart {
		return notRunningError(rt, cluster, stopped)
	}
	for _, n := range stopped {
		verb := "start"
		if n.State == "paused" {
			verb = "unpause"
		}
		logf("%s node container %s (was %s)", verb, n.Name, n.State)
		if out, err := m.Run(ctx, rt.Binary, verb, n.Name); err != nil {
			return fmt.Errorf("%s node container %s: %s: %w", verb, n.Name, lastLine(out), err)
		}
	}
	return nil
}
