package mirrors

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kindstack/kindstack/internal/imageref"
)

// CertsDir is where the node's containerd looks for per-registry hosts.toml files: every cluster
// kindstack creates sets it as the CRI registry config_path, so mirrors change without a restart.
const CertsDir = "/etc/containerd/certs.d"

// Header starts every hosts.toml kindstack writes (a TOML comment), so a later up knows which
// files are its own.
const Header = "# Written by kindstack (registryMirrors). The next kindstack up replaces or removes this file.\n"

// hostsFile is the top of containerd's hosts.toml: the registry's own endpoint, tried last.
type hostsFile struct {
	Server string `toml:"server"`
}

// hostConfig is one [host."<mirror>"] table of containerd's hosts.toml.
type hostConfig struct {
	Capabilities []string `toml:"capabilities"`
	SkipVerify   bool     `toml:"skip_verify,omitempty"`
}

// upstream is the registry's own endpoint, containerd's `server`: tried after every mirror.
func upstream(registry string) string { return "https://" + imageref.APIHost(registry) }

// HostsTOML is the containerd hosts.toml for one registry: each mirror, in order, may pull and
// resolve; the registry itself is the fallback. A plain-HTTP mirror is reached over HTTP (its
// scheme); an insecure one skips TLS verification.
//
// containerd tries the host tables in the order they appear in the file, and a Go map loses
// order, so each table is encoded on its own under its header (the key quoted by the encoder).
func (r Registries) HostsTOML(registry string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Header)
	enc := toml.NewEncoder(&b)
	if err := enc.Encode(hostsFile{Server: upstream(registry)}); err != nil {
		return nil, fmt.Errorf("hosts.toml for %s: %w", registry, err)
	}
	for _, m := range r.MirrorsOf(registry) {
		fmt.Fprintf(&b, "\n[%s]\n", toml.Key{"host", m})
		host := hostConfig{Capabilities: []string{"pull", "resolve"}, SkipVerify: r.InsecureMirror(m)}
		if err := enc.Encode(host); err != nil {
			return nil, fmt.Errorf("hosts.toml for %s: %w", registry, err)
		}
	}
	return b.Bytes(), nil
}

// LocalHeader starts the hosts.toml of a local registry (see Header).
const LocalHeader = "# Written by kindstack (registry). The next kindstack up replaces or removes this file.\n"

// LocalHostsTOML is the containerd hosts.toml of a local registry: its one plain-HTTP endpoint
// may pull and resolve. No `server`: containerd's default for the name (https://localhost:5001
// from inside the node) is never reached, because the host answers first.
func (r Registries) LocalHostsTOML(registry string) ([]byte, error) {
	endpoint, ok := r.Local[registry]
	if !ok {
		return nil, fmt.Errorf("hosts.toml for %s: not a local registry", registry)
	}
	var b bytes.Buffer
	b.WriteString(LocalHeader)
	fmt.Fprintf(&b, "\n[%s]\n", toml.Key{"host", Normal(endpoint)})
	if err := toml.NewEncoder(&b).Encode(hostConfig{Capabilities: []string{"pull", "resolve"}}); err != nil {
		return nil, fmt.Errorf("hosts.toml for %s: %w", registry, err)
	}
	return b.Bytes(), nil
}

// HostsFiles is every hosts.toml the node should hold, keyed by its path.
func (r Registries) HostsFiles() (map[string]string, error) {
	files := map[string]string{}
	for _, registry := range sortedKeys(r.Local) {
		data, err := r.LocalHostsTOML(registry)
		if err != nil {
			return nil, err
		}
		files[HostsPath(registry)] = string(data)
	}
	for _, registry := range r.Registries() {
		data, err := r.HostsTOML(registry)
		if err != nil {
			return nil, err
		}
		files[HostsPath(registry)] = string(data)
	}
	return files, nil
}

// HostsPath is where the node keeps a registry's hosts.toml.
func HostsPath(registry string) string { return CertsDir + "/" + registry + "/hosts.toml" }

// RegistryOf is the registry whose hosts.toml is at path (HostsPath's inverse).
func RegistryOf(path string) string {
	return strings.TrimSuffix(strings.TrimPrefix(path, CertsDir+"/"), "/hosts.toml")
}
