package cluster

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// CertsDir is where the node's containerd looks for per-registry hosts.toml files: every cluster
// kindstack creates sets it as the CRI registry config_path, so mirrors change without a restart.
const CertsDir = "/etc/containerd/certs.d"

// containerdConfigPatch points containerd's CRI plugin at CertsDir. kind's config.toml is
// version 2 and sets no config_path; the inline registry.mirrors tables must not be used with it.
const containerdConfigPatch = `[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "` + CertsDir + `"
`

// hostsHeader starts every hosts.toml kindstack writes, so a later up knows which files are its own.
const hostsHeader = "# Written by kindstack (registryMirrors). The next kindstack up replaces or removes this file.\n"

// Registries is how the node's containerd reaches image registries.
type Registries struct {
	// Mirrors maps a registry host (docker.io, registry.k8s.io, ghcr.io:443) to the mirror URLs
	// tried in order before it; the registry itself is tried last.
	Mirrors map[string][]string
	// Insecure lists mirror URLs whose TLS certificate is not verified (self-signed).
	Insecure []string
}

// Empty reports that no mirror is configured.
func (r Registries) Empty() bool { return len(r.Mirrors) == 0 }

var registryHost = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)

// CheckRegistry says what is wrong with a registry name used as a mirror key, or nil.
func CheckRegistry(registry string) error {
	if strings.Contains(registry, "://") || strings.Contains(registry, "/") {
		return fmt.Errorf("registry %q: write the registry's host name only, like docker.io or registry.k8s.io", registry)
	}
	if registry == "index.docker.io" || registry == "registry-1.docker.io" {
		return fmt.Errorf("registry %q: Docker Hub's images are named docker.io; use docker.io as the key", registry)
	}
	if !registryHost.MatchString(registry) {
		return fmt.Errorf("registry %q is not a host name (with an optional :port)", registry)
	}
	return nil
}

// CheckMirrorURL says what is wrong with a mirror URL, or nil: it must be http:// or https://
// followed by a host and an optional port, nothing else.
func CheckMirrorURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("mirror %q: want a URL such as https://mirror.example.com or http://10.0.0.5:5000", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("mirror %q: want only scheme://host[:port]; a path, query or user is not supported", raw)
	}
	return nil
}

// Check says what is wrong with every registry and mirror at once, or nil.
func (r Registries) Check() error {
	var errs []error
	for _, registry := range sortedRegistries(r.Mirrors) {
		if err := CheckRegistry(registry); err != nil {
			errs = append(errs, err)
		}
		if len(r.Mirrors[registry]) == 0 {
			errs = append(errs, fmt.Errorf("registry %s has no mirrors listed", registry))
		}
		for _, m := range r.Mirrors[registry] {
			if err := CheckMirrorURL(m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, m := range r.Insecure {
		if err := CheckMirrorURL(m); err != nil {
			errs = append(errs, err)
		} else if !r.uses(m) {
			errs = append(errs, fmt.Errorf("insecure mirror %s is not one of the registry mirrors", m))
		}
	}
	return errors.Join(errs...)
}

func (r Registries) uses(mirror string) bool {
	for _, list := range r.Mirrors {
		for _, m := range list {
			if normalMirror(m) == normalMirror(mirror) {
				return true
			}
		}
	}
	return false
}

// InsecureMirror reports whether the mirror's TLS certificate is not verified.
func (r Registries) InsecureMirror(mirror string) bool { return r.insecure(mirror) }

func (r Registries) insecure(mirror string) bool {
	return slices.ContainsFunc(r.Insecure, func(m string) bool { return normalMirror(m) == normalMirror(mirror) })
}

func normalMirror(m string) string { return strings.TrimSuffix(m, "/") }

func sortedRegistries(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// upstream is the registry's own endpoint, containerd's `server`: tried after every mirror.
func upstream(registry string) string {
	if registry == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

// HostsTOML is the containerd hosts.toml for one registry: each mirror, in order, may pull and
// resolve; the registry itself is the fallback. A plain-HTTP mirror is reached over HTTP (its
// scheme); an insecure one skips TLS verification.
func (r Registries) HostsTOML(registry string) []byte {
	var b strings.Builder
	b.WriteString(hostsHeader)
	fmt.Fprintf(&b, "server = %q\n", upstream(registry))
	for _, m := range r.Mirrors[registry] {
		fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", normalMirror(m))
		if r.insecure(m) {
			b.WriteString("  skip_verify = true\n")
		}
	}
	return []byte(b.String())
}

// hostsFiles is every hosts.toml the node should hold, keyed by its path.
func (r Registries) hostsFiles() map[string]string {
	files := map[string]string{}
	for registry := range r.Mirrors {
		files[CertsDir+"/"+registry+"/hosts.toml"] = string(r.HostsTOML(registry))
	}
	return files
}

// readHostsScript prints every kindstack-written hosts.toml as "==> path" followed by its content.
const readHostsScript = `for f in ` + CertsDir + `/*/hosts.toml; do
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
	for _, path := range sortedRegistries(asLists(have)) {
		if _, keep := want[path]; !keep {
			fmt.Fprintf(&b, "rm -f '%s'\nrmdir '%s' 2>/dev/null || true\n", path, strings.TrimSuffix(path, "/hosts.toml"))
		}
	}
	for _, path := range sortedRegistries(asLists(want)) {
		if have[path] == want[path] {
			continue
		}
		fmt.Fprintf(&b, "mkdir -p '%s'\necho '%s' | base64 -d > '%s.tmp'\nmv '%s.tmp' '%s'\n",
			strings.TrimSuffix(path, "/hosts.toml"), base64.StdEncoding.EncodeToString([]byte(want[path])), path, path, path)
	}
	return b.String()
}

func asLists(m map[string]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k := range m {
		out[k] = nil
	}
	return out
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
// pull: no restart, no recreate. A cluster whose containerd does not read CertsDir (created before
// kindstack set config_path) is an error that says to recreate it.
func (m *Manager) ApplyMirrors(ctx context.Context, rt Runtime, cluster string, r Registries) (MirrorChange, error) {
	var change MirrorChange
	want := r.hostsFiles()
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
		return strings.TrimSuffix(strings.TrimPrefix(path, CertsDir+"/"), "/hosts.toml")
	}
	for _, path := range sortedRegistries(asLists(want)) {
		if have[path] != want[path] {
			c.Written = append(c.Written, registry(path))
		}
	}
	for _, path := range sortedRegistries(asLists(have)) {
		if _, keep := want[path]; !keep {
			c.Removed = append(c.Removed, registry(path))
		}
	}
	return c
}

// checkConfigPath fails unless the node's containerd reads hosts.toml files from CertsDir.
func (m *Manager) checkConfigPath(ctx context.Context, rt Runtime, node, cluster string) error {
	out, err := m.Run(ctx, rt.Binary, "exec", node, "containerd", "config", "dump")
	if err != nil {
		return fmt.Errorf("read containerd's config in node %s: %s: %w", node, lastLine(out), err)
	}
	if !strings.Contains(string(out), `config_path = "`+CertsDir+`"`) {
		return fmt.Errorf("cluster %q was created without registry mirror support (its containerd does not read %s); "+
			"run `kindstack recreate --name %s` to use registryMirrors", cluster, CertsDir, cluster)
	}
	return nil
}

// MirroredImage rewrites an image reference to the first mirror of its registry, keeping the
// repository path, tag and digest: what the host's engine pulls when it lacks the image (the
// node's containerd mirrors do not apply to it). ok is false when its registry has no mirror.
func (r Registries) MirroredImage(image string) (mirrored []string, ok bool) {
	registry, path := splitImage(image)
	for _, m := range r.Mirrors[registry] {
		u, err := url.Parse(m)
		if err != nil {
			continue
		}
		mirrored = append(mirrored, u.Host+"/"+path)
	}
	return mirrored, len(mirrored) > 0
}

// splitImage returns an image reference's registry (docker.io when it names none) and the rest:
// "kindest/node:v1" → docker.io, kindest/node:v1; "postgres:17" → docker.io, library/postgres:17.
func splitImage(image string) (registry, rest string) {
	first, after, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		registry, rest = first, after
	} else {
		registry, rest = "docker.io", image
	}
	if registry == "index.docker.io" || registry == "registry-1.docker.io" {
		registry = "docker.io"
	}
	if registry == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return registry, rest
}

// ProbeMirrors asks each mirror's /v2/ endpoint once and returns one warning per mirror that does
// not answer. Any HTTP answer counts (a registry may say 401): only "nothing there" is a warning.
func ProbeMirrors(ctx context.Context, r Registries) []string {
	verified := &http.Client{Timeout: 5 * time.Second}
	unverified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the user listed this mirror as insecure
	}}
	// Each mirror once, naming every registry it serves.
	var order []string
	serves := map[string][]string{}
	for _, registry := range sortedRegistries(r.Mirrors) {
		for _, m := range r.Mirrors[registry] {
			m = normalMirror(m)
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
		if r.insecure(m) {
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
func (m *Manager) nodeImage(ctx context.Context, rt Runtime, image string, r Registries, logf Logf) (string, error) {
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

// NormalizeImage spells an image reference the way containerd names it: registry and full
// repository path, then the tag and digest ("postgres:17" → "docker.io/library/postgres:17").
func NormalizeImage(image string) string {
	registry, rest := splitImage(image)
	return registry + "/" + rest
}

// manifestAccept are the manifest media types a registry may serve for an image.
const manifestAccept = "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

// MirrorVerdict asks, from inside the node (whose network is the one that matters), each mirror
// of the image's registry whether it has the image. When every mirror answers 404 it returns what
// they said, for an image the kubelet already failed to pull from the registry itself; any other
// answer ("" = no opinion) leaves the wait to go on.
func (m *Manager) MirrorVerdict(ctx context.Context, rt Runtime, cluster string, r Registries, image string) string {
	registry, rest := splitImage(image)
	mirrors := r.Mirrors[registry]
	if len(mirrors) == 0 {
		return ""
	}
	nodes, err := m.nodeContainers(ctx, rt, cluster)
	if err != nil || len(nodes) == 0 {
		return ""
	}
	repo, ref := repoAndRef(rest)
	var misses []string
	for _, mirror := range mirrors {
		u := normalMirror(mirror) + "/v2/" + repo + "/manifests/" + ref + "?ns=" + registry
		args := []string{"exec", nodes[0].Name, "curl", "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", "-H", manifestAccept}
		if r.insecure(mirror) {
			args = append(args, "-k")
		}
		out, _ := m.Run(ctx, rt.Binary, append(args, u)...)
		if strings.TrimSpace(string(out)) != "404" {
			return ""
		}
		misses = append(misses, fmt.Sprintf("not on mirror %s (HTTP 404)", normalMirror(mirror)))
	}
	return strings.Join(misses, ", ") + ", and " + registry + " itself did not serve it"
}

// repoAndRef splits "library/x:v1" into "library/x", "v1" (a digest wins over a tag; no tag is latest).
func repoAndRef(rest string) (string, string) {
	if base, digest, ok := strings.Cut(rest, "@"); ok {
		if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
			base = base[:i]
		}
		return base, digest
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		return rest[:i], rest[i+1:]
	}
	return rest, "latest"
}
