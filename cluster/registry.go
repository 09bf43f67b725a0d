package cluster

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
)

// containerdConfigPatch points containerd's CRI plugin at mirrors.CertsDir. kind's config.toml is
// version 2 and sets no config_path; the inline registry.mirrors tables must not be used with it.
const containerdConfigPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "` + mirrors.CertsDir + `"
`

// readHostsScript prints every kindstack-written hosts.toml as "==> path" followed by its content.
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

// writeHostsScript makes the node's kindstack-written files exactly want: stale registries'
// directories go, new and changed files are written whole.
func writeHostsScript(have, want map[string]string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, path := range sortedKeys(have) {
		if _, keep := want[path]; !keep {
			fmt.Fprintf(&b, "rm -f '%s'\nrmdir '%s' 2>/dev/null || true\n", path, strings.TrimSuffix(path, "/hosts.toml"))
		}
	}
	for _, path := range sortedKeys(want) {
		if have[path] == want[path] {
			continue
		}
		fmt.Fprintf(&b, "mkdir -p '%s'\necho '%s' | base64 -d > '%s.tmp'\nmv '%s.tmp' '%s'\n",
			strings.TrimSuffix(path, "/hosts.toml"), base64.StdEncoding.EncodeToString([]byte(want[path])), path, path, path)
	}
	return b.String()
}

// MirrorChange says what ApplyMirrors did to the nodes.
type MirrorChange struct {
	Written, Removed []string // registries
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
	return strings.Join(parts, ", ")
}

// ApplyMirrors writes the registries' hosts.toml files into every node of the cluster and removes
// the ones an earlier up wrote for registries no longer mirrored. containerd reads them on the next
// pull: no restart, no recreate. A cluster whose containerd does not read mirrors.CertsDir (created before
// kindstack set config_path) is an error that says to recreate it.
func (m *Manager) ApplyMirrors(ctx context.Context, rt Runtime, cluster string, r mirrors.Registries) (MirrorChange, error) {
	var change MirrorChange
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
		script := writeHostsScript(have, want)
		if script == "set -e\n" {
			continue
		}
		if out, err := m.Run(ctx, rt.Binary, "exec", n.Name, "sh", "-c", script); err != nil {
			return change, fmt.Errorf("write registry hosts into node %s: %s: %w", n.Name, lastLine(out), err)
		}
		change = mirrorChange(have, want)
	}
	return change, nil
}

func mirrorChange(have, want map[string]string) MirrorChange {
	var c MirrorChange
	registry := func(path string) string {
		return strings.TrimSuffix(strings.TrimPrefix(path, mirrors.CertsDir+"/"), "/hosts.toml")
	}
	for _, path := range sortedKeys(want) {
		if have[path] != want[path] {
			c.Written = append(c.Written, registry(path))
		}
	}
	for _, path := range sortedKeys(have) {
		if _, keep := want[path]; !keep {
			c.Removed = append(c.Removed, registry(path))
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
	if !strings.Contains(string(out), `config_path = "`+mirrors.CertsDir+`"`) {
		return fmt.Errorf("cluster %q was created without registry mirror support (its containerd does not read %s); "+
			"run `kindstack recreate --name %s` to use registryMirrors", cluster, mirrors.CertsDir, cluster)
	}
	return nil
}

// ProbeMirrors asks each mirror's /v2/ endpoint once and returns one warning per mirror that does
// not answer. Any HTTP answer counts (a registry may say 401): only "nothing there" is a warning.
func ProbeMirrors(ctx context.Context, r mirrors.Registries) []string {
	verified := &http.Client{Timeout: 5 * time.Second}
	unverified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the user listed this mirror as insecure
	}}
	// Each mirror once, naming every registry it serves.
	var order []string
	serves := map[string][]string{}
	for _, registry := range r.Registries() {
		for _, m := range r.MirrorsOf(registry) {
			if serves[m] == nil {
				order = append(order, m)
			}
			serves[m] = append(serves[m], registry)
		}
	}
	var warnings []string
	for _, m := range order {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m+"/v2/", nil)
		if err != nil {
			continue
		}
		client := verified
		if r.InsecureMirror(m) {
			client = unverified
		}
		res, err := client.Do(req)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("registry mirror %s (for %s) does not answer from this machine: %v; "+
				"the node falls back to the next mirror and the registry itself", m, strings.Join(serves[m], ", "), unwrapURLError(err)))
			continue
		}
		res.Body.Close()
	}
	return warnings
}

func unwrapURLError(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

// nodeImage is the reference kind creates the node from. The host's engine, not the node, pulls
// it, so the node's mirrors do not apply: when the engine lacks the image, each mirror of its
// registry is tried in order (the reference rewritten, digest kept) before the registry itself.
func (m *Manager) nodeImage(ctx context.Context, rt Runtime, image string, r mirrors.Registries, logf Logf) (string, error) {
	if _, err := m.hostImageID(ctx, rt, image); err == nil {
		return image, nil
	}
	if id, ok := m.rememberedNodeImage(ctx, rt, image); ok {
		logf("node image %s: using %s, loaded from a kindstack bundle", image, id)
		return id, nil
	}
	mirrored, ok := r.MirroredImage(image)
	if !ok {
		return image, nil
	}
	for _, ref := range mirrored {
		if _, err := m.hostImageID(ctx, rt, ref); err == nil {
			return ref, nil
		}
		logf("pulling node image %s", ref)
		out, err := m.Run(ctx, rt.Binary, "pull", ref)
		if err == nil {
			return ref, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("pull node image %s: %w", ref, ctx.Err())
		}
		logf("node image %s not pulled through that mirror: %s", ref, lastLine(out))
	}
	return image, nil
}

// manifestAccept are the manifest media types a registry may serve for an image.
const manifestAccept = "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

// MirrorVerdict asks, from inside the node (whose network is the one that matters), each mirror
// of the image's registry whether it has the image. When every mirror answers 404 it returns what
// they said, for an image the kubelet already failed to pull from the registry itself; any other
// answer ("" = no opinion) leaves the wait to go on.
func (m *Manager) MirrorVerdict(ctx context.Context, rt Runtime, cluster string, r mirrors.Registries, image string) string {
	ref, err := imageref.Parse(image)
	if err != nil {
		return ""
	}
	mirrorURLs := r.MirrorsOf(ref.Registry)
	if len(mirrorURLs) == 0 {
		return ""
	}
	nodes, err := m.nodeContainers(ctx, rt, cluster)
	if err != nil || len(nodes) == 0 {
		return ""
	}
	var misses []string
	for _, mirror := range mirrorURLs {
		u := mirror + "/v2/" + ref.Repository + "/manifests/" + ref.Identifier() + "?ns=" + ref.Registry
		args := []string{"exec", nodes[0].Name, "curl", "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", "-H", manifestAccept}
		if r.InsecureMirror(mirror) {
			args = append(args, "-k")
		}
		out, _ := m.Run(ctx, rt.Binary, append(args, u)...)
		if strings.TrimSpace(string(out)) != "404" {
			return ""
		}
		misses = append(misses, fmt.Sprintf("not on mirror %s (HTTP 404)", mirror))
	}
	return strings.Join(misses, ", ") + ", and " + ref.Registry + " itself did not serve it"
}
