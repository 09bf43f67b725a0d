package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
)

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
