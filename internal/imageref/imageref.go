// Package imageref is the one place kindstack parses container image references. It stands on
// go-containerregistry's name package and spells a reference in each form the rest of kindstack
// needs: the registry it is pulled from, the name containerd and the kubelet keep it under, the
// name a digest-pinned reference resolves by, and the short form people write.
package imageref

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is Docker Hub's registry name as containerd and the kubelet spell it. go-containerregistry
// says index.docker.io; containerd's image names and hosts.toml directories say docker.io.
const DockerHub = "docker.io"

// dockerHubAPI is the host that serves Docker Hub's registry API.
const dockerHubAPI = "registry-1.docker.io"

// Ref is a parsed image reference.
type Ref struct {
	// Registry is the registry host (with its port), DockerHub for Docker Hub however it was written.
	Registry string
	// Repository is the path within the registry, library/ included for Docker Hub's official images.
	Repository string
	// Tag is the tag as written; "" when the reference names none.
	Tag string
	// Digest is the pinned digest (sha256:…); "" when the reference pins none.
	Digest string
}

// Parse reads an image reference as Docker and containerd do: "postgres:17" is
// docker.io/library/postgres:17, a first path element with a dot, a colon or "localhost" is a
// registry, a reference may carry both a tag and a digest.
func Parse(s string) (Ref, error) {
	// An empty default tag tells "no tag written" apart from ":latest".
	ref, err := name.ParseReference(s, name.WithDefaultTag(""))
	if err != nil {
		return Ref{}, fmt.Errorf("image %q: %w", s, err)
	}
	r := Ref{Registry: registry(ref.Context()), Repository: ref.Context().RepositoryStr()}
	// name checks a short Docker Hub name before it adds library/: its full name may be one no
	// registry takes (a 256-character repository, found by FuzzParse).
	if _, err := name.NewRepository(r.Name()); err != nil {
		return Ref{}, fmt.Errorf("image %q: its full name %s is not a valid repository: %w", s, r.Name(), err)
	}
	switch ref := ref.(type) {
	case name.Tag:
		r.Tag = ref.TagStr()
	case name.Digest:
		r.Digest = ref.DigestStr()
		// name drops the tag of a tag+digest reference; the kubelet keeps it, so do we.
		if base, _, ok := strings.Cut(s, "@"); ok {
			if t, err := name.NewTag(base, name.WithDefaultTag("")); err == nil {
				r.Tag = t.TagStr()
			}
		}
	}
	return r, nil
}

// registry spells Docker Hub's aliases as DockerHub.
func registry(repo name.Repository) string {
	switch r := repo.RegistryStr(); r {
	case name.DefaultRegistry, dockerHubAPI:
		return DockerHub
	default:
		return r
	}
}

// Name is the repository's full name: "docker.io/library/postgres".
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// Pinned reports whether the reference names a digest.
func (r Ref) Pinned() bool { return r.Digest != "" }

// String is the reference with its registry and full repository path, tag and digest as
// written: "postgres:17" → "docker.io/library/postgres:17", "busybox" → "docker.io/library/busybox".
func (r Ref) String() string { return r.Name() + r.suffix() }

// Normalized is the name containerd and the kubelet use for the reference: String with
// ":latest" when it names neither a tag nor a digest ("busybox" → "docker.io/library/busybox:latest").
func (r Ref) Normalized() string {
	if r.Tag == "" && r.Digest == "" {
		return r.Name() + ":latest"
	}
	return r.String()
}

// TagName is the tagged name containerd keeps the image under: the tag (latest when none is
// written) without the digest.
func (r Ref) TagName() string {
	tag := r.Tag
	if tag == "" {
		tag = "latest"
	}
	return r.Name() + ":" + tag
}

// DigestName is the name containerd resolves a pinned reference by, "docker.io/library/x@sha256:…"
// (the tag dropped); "" for a reference without a digest.
func (r Ref) DigestName() string {
	if r.Digest == "" {
		return ""
	}
	return r.Name() + "@" + r.Digest
}

// Identifier is what a registry's /v2/<repository>/manifests/ endpoint is asked for: the digest
// when the reference pins one (it wins over the tag), else the tag, else latest.
func (r Ref) Identifier() string {
	switch {
	case r.Digest != "":
		return r.Digest
	case r.Tag != "":
		return r.Tag
	default:
		return "latest"
	}
}

// Familiar is the short form Docker prints and people write: Docker Hub's registry and its
// library/ left out ("docker.io/library/postgres:17" → "postgres:17").
func (r Ref) Familiar() string {
	if r.Registry != DockerHub {
		return r.String()
	}
	repo := r.Repository
	if official, ok := strings.CutPrefix(repo, "library/"); ok && !strings.Contains(official, "/") {
		repo = official
	}
	// Some Docker Hub paths read as another registry, or as nothing, once docker.io is left out
	// ("docker.io/./", "docker.io/localhost/x"): those keep it (found by FuzzParse).
	short := repo + r.suffix()
	if back, err := Parse(short); err != nil || back != r {
		return r.String()
	}
	return short
}

// On is the same repository, tag and digest on another registry host (a mirror):
// "postgres:17" on "mirror.example:5000" is "mirror.example:5000/library/postgres:17".
func (r Ref) On(host string) Ref {
	r.Registry = host
	return r
}

// APIHost is the host that serves the registry's API: registry-1.docker.io for Docker Hub.
func (r Ref) APIHost() string { return APIHost(r.Registry) }

// APIHost is the host that serves a registry's API, as containerd reaches it: Docker Hub's is
// registry-1.docker.io, every other registry serves its own name.
func APIHost(registry string) string {
	if registry == DockerHub {
		return dockerHubAPI
	}
	return registry
}

// Reference is the reference as go-containerregistry's remote package fetches it: by digest
// when pinned (the digest alone says what to fetch), else by tag. opts are name's options, e.g.
// name.Insecure for a plain-HTTP registry.
func (r Ref) Reference(opts ...name.Option) (name.Reference, error) {
	var (
		ref name.Reference
		err error
	)
	if r.Digest != "" {
		ref, err = name.NewDigest(r.DigestName(), opts...)
	} else {
		ref, err = name.NewTag(r.TagName(), opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", r.String(), err)
	}
	return ref, nil
}

func (r Ref) suffix() string {
	var s string
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}
