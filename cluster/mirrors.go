package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// containerdConfigPatch points containerd's CRI plugin at mirrors.CertsDir. kind's config.toml is
// version 2 and sets no config_path; the inline registry.mirrors tables must not be used with it.
const containerdConfigPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "` + mirrors.CertsDir + `"
`

// readHostsScript prints every kindstack-written hosts.toml as "==> path" followed by its content.
// It only reads, and names nothing but the constant directory: no registry name is ever in it.
const readHostsScript = `for f in ` + mirrors.CertsDir + `/*/hosts.toml; do
  [ -f "$f" ] || continue
  head -n1 "$f" | grep -q '^# Written by kindstack' || continue
  echo "==> $f"; cat "$f"
done`

// parseHostsDump reads readHostsScript's output back into path → content.
func parseHostsDump(out string) map[string]string {
	files := map[string]string{}
	var path string
	var body strings.Builder
	flush := func() {
		if path != "" {
			files[path] = body.String()
		}
		body.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if p, ok := strings.CutPrefix(line, "==> "); ok {
			flush()
			path = strings.TrimSpace(p)
			continue
		}
		body.WriteString(line)
	}
	flush()
	return files
}

// MirrorChange says what ApplyMirrors did to the nodes.
type MirrorChange struct {
	Written, Removed []string // registries
	// LocalWritten and LocalRemoved are the local registries (a registry kindstack runs beside
	// the nodes) whose hosts.toml was written or removed.
	LocalWritten, LocalRemoved []string
}

// String is "mirrors for docker.io, registry.k8s.io written", "" when nothing changed.
func (c MirrorChange) String() string {
	var parts []string
	if len(c.Written) > 0 {
		parts = append(parts, "mirrors for "+strings.Join(c.Written, ", ")+" written")
	}
	if len(c.Removed) > 0 {
		parts = append(parts, "mirrors for "+strings.Join(c.Removed, ", ")+" removed")
	}
	if len(c.LocalWritten) > 0 {
		parts = append(parts, "nodes pull "+strings.Join(c.LocalWritten, ", ")+" from the local registry")
	}
	if len(c.LocalRemoved) > 0 {
		parts = append(parts, "nodes no longer pull "+strings.Join(c.LocalRemoved, ", ")+" from a local registry")
	}
	return strings.Join(parts, ", ")
}

// ApplyMirrors writes the registries' hosts.toml files into every node of the cluster and removes
// the ones an earlier up wrote for registries no longer mirrored. containerd reads them on the next
// pull: no restart, no recreate. A cluster whose containerd does not read mirrors.CertsDir
// (created before kindstack set config_path) is an error that says to recreate it.
func (m *Manager) ApplyMirrors(ctx context.Context, rt Runtime, cluster string, r mirrors.Registries) (MirrorChange, error) {
	var change MirrorChange
	// Registry names become paths in a privileged node: never trust that a caller checked them.
	if err := ValidateName(cluster); err != nil {
		return change, err
	}
	if err := r.Check(); err != nil {
		return change, fmt.Errorf("registry mirrors: %w", err)
	}
	want, err := r.HostsFiles()
	if err != nil {
		return change, err
	}
	nodes, err := m.nodeContainers(ctx, rt, cluster)
	if err != nil {
		if len(want) == 0 {
			return change, nil // only old files to clean up, and a node that cannot say
		}
		return change, err
	}
	for _, n := range nodes {
		out, err := m.Run(ctx, rt.Binary, "exec", n.Name, "sh", "-c", readHostsScript)
		if err != nil && len(want) == 0 {
			continue
		}
		if err != nil {
			return change, fmt.Errorf("read registry hosts of node %s: %s: %w", n.Name, lastLine(out), err)
		}
		have := parseHostsDump(string(out))
		if len(want) > 0 {
			if err := m.checkConfigPath(ctx, rt, n.Name, cluster); err != nil {
				return change, err
			}
		}
		if err := m.syncHostsFiles(ctx, rt, n.Name, have, want); err != nil {
			return change, err
		}
		change = mirrorChange(have, want)
	}
	return change, nil
}

// syncHostsFiles makes the node's kindstack-written files exactly want: stale registries' files
// go, new and changed files are written whole.
func (m *Manager) syncHostsFiles(ctx context.Context, rt Runtime, node string, have, want map[string]string) error {
	for _, path := range sortedKeys(have) {
		if _, keep := want[path]; !keep {
			if err := m.removeNodeFile(ctx, rt, node, path); err != nil {
				return fmt.Errorf("registry hosts: %w", err)
			}
		}
	}
	for _, path := range sortedKeys(want) {
		if have[path] == want[path] {
			continue
		}
		if err := m.writeNodeFile(ctx, rt, node, path, want[path]); err != nil {
			return fmt.Errorf("registry hosts: %w", err)
		}
	}
	return nil
}

func mirrorChange(have, want map[string]string) MirrorChange {
	var c MirrorChange
	local := func(content string) bool { return strings.HasPrefix(content, mirrors.LocalHeader) }
	for _, path := range sortedKeys(want) {
		switch {
		case have[path] == want[path]:
		case local(want[path]):
			c.LocalWritten = append(c.LocalWritten, mirrors.RegistryOf(path))
		default:
			c.Written = append(c.Written, mirrors.RegistryOf(path))
		}
	}
	for _, path := range sortedKeys(have) {
		if _, keep := want[path]; keep {
			continue
		}
		if local(have[path]) {
			c.LocalRemoved = append(c.LocalRemoved, mirrors.RegistryOf(path))
		} else {
			c.Removed = append(c.Removed, mirrors.RegistryOf(path))
		}
	}
	return c
}

// checkConfigPath fails unless the node's containerd reads hosts.toml files from mirrors.CertsDir.
func (m *Manager) checkConfigPath(ctx context.Context, rt Runtime, node, cluster string) error {
	out, err := m.Run(ctx, rt.Binary, "exec", node, "containerd", "config", "dump")
	if err != nil {
		return fmt.Errorf("read containerd's config in node %s: %s: %w", node, lastLine(out), err)
	}
	path, err := registryConfigPathOf(out)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	if path != mirrors.CertsDir {
		return fmt.Errorf("cluster %q was created without registry mirror support (its containerd does not read %s); "+
			"run `kindstack recreate --name %s` to use registryMirrors", cluster, mirrors.CertsDir, cluster)
	}
	return nil
}
