// Package mirrors holds the registry-mirror settings of a cluster's nodes: which mirrors each
// registry is pulled through, their validation, and the containerd hosts.toml files that say it
// to the node. It knows nothing of kind: config reads the settings, cluster writes the files.
package mirrors

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kindstack/kindstack/internal/imageref"
)

// Registries is how the node's containerd reaches image registries.
type Registries struct {
	// Mirrors maps a registry host (docker.io, registry.k8s.io, ghcr.io:443) to the mirror URLs
	// tried in order before it; the registry itself is tried last.
	Mirrors map[string][]string
	// Insecure lists mirror URLs whose TLS certificate is not verified (self-signed).
	Insecure []string
	// Local maps a registry name that only exists for the cluster (localhost:5001) to the one
	// plain-HTTP endpoint every node pulls it from (http://kindstack-registry:5000): a registry
	// kindstack runs beside the nodes. There is no upstream to fall back to.
	Local map[string]string
}

// Empty reports that no mirror is configured.
func (r Registries) Empty() bool { return len(r.Mirrors) == 0 }

// registryHost is a host name with an optional port, as containerd names a registry's directory.
var registryHost = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)

// hostName is a DNS host name, any case (a mirror URL's host; containerd compares it as written).
var hostName = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// checkPort says what is wrong with a port as written after a host, or nil; "" is no port.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("port %q is not a port number (1-65535)", port)
	}
	return nil
}

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
	_, port, _ := strings.Cut(registry, ":")
	if err := checkPort(port); err != nil {
		return fmt.Errorf("registry %q: %w", registry, err)
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
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" || u.Opaque != "" || u.ForceQuery || u.RawPath != "" {
		return fmt.Errorf("mirror %q: want only scheme://host[:port]; a path, query or user is not supported", raw)
	}
	// url.Parse lets a host hold characters no host name has (quotes, $, !, spaces escaped):
	// the host is a DNS name or an IP address, and nothing else reaches hosts.toml.
	host := u.Hostname()
	if ip := net.ParseIP(host); ip == nil && !hostName.MatchString(host) {
		return fmt.Errorf("mirror %q: %q is neither a host name nor an IP address", raw, host)
	}
	if err := checkPort(u.Port()); err != nil {
		return fmt.Errorf("mirror %q: %w", raw, err)
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("mirror %q: a colon with no port after it", raw)
	}
	return nil
}

// Check says what is wrong with every registry and mirror at once, or nil.
func (r Registries) Check() error {
	var errs []error
	for _, registry := range sortedKeys(r.Local) {
		if err := CheckRegistry(registry); err != nil {
			errs = append(errs, err)
		}
		if err := CheckMirrorURL(r.Local[registry]); err != nil {
			errs = append(errs, fmt.Errorf("local registry %s: %w", registry, err))
		}
		if _, mirrored := r.Mirrors[registry]; mirrored {
			errs = append(errs, fmt.Errorf("registry %s has mirrors and is kindstack's local registry too; drop its registryMirrors entry", registry))
		}
	}
	for _, registry := range r.Registries() {
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

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Registries lists the mirrored registries, sorted.
func (r Registries) Registries() []string {
	keys := make([]string, 0, len(r.Mirrors))
	for k := range r.Mirrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MirrorsOf lists a registry's mirrors in the order they are tried, each spelled as Normal.
func (r Registries) MirrorsOf(registry string) []string {
	var out []string
	for _, m := range r.Mirrors[registry] {
		out = append(out, Normal(m))
	}
	return out
}

func (r Registries) uses(mirror string) bool {
	for _, list := range r.Mirrors {
		for _, m := range list {
			if Normal(m) == Normal(mirror) {
				return true
			}
		}
	}
	return false
}

// InsecureMirror reports whether the mirror's TLS certificate is not verified.
func (r Registries) InsecureMirror(mirror string) bool {
	return slices.ContainsFunc(r.Insecure, func(m string) bool { return Normal(m) == Normal(mirror) })
}

// Normal spells a mirror URL the one way kindstack compares and writes it: without a trailing
// slash (users write both).
func Normal(mirror string) string { return strings.TrimSuffix(mirror, "/") }

// MirroredImage rewrites an image reference to each mirror of its registry, in order, keeping the
// repository path, tag and digest: what the host's engine pulls when it lacks the image (the
// node's containerd mirrors do not apply to it). ok is false when its registry has no mirror, or
// the reference cannot be read.
func (r Registries) MirroredImage(image string) (mirrored []string, ok bool) {
	ref, err := imageref.Parse(image)
	if err != nil {
		return nil, false
	}
	for _, m := range r.Mirrors[ref.Registry] {
		u, err := url.Parse(m)
		if err != nil {
			continue
		}
		mirrored = append(mirrored, ref.On(u.Host).String())
	}
	return mirrored, len(mirrored) > 0
}
