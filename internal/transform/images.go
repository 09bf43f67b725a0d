package transform

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/internal/imageref"
)

// ImageMap maps an image reference, as written in kindstack's manifests, to its replacement
// (a mirror, or a tag loaded into the cluster by hand).
//
// A key matches an image when both name the same thing after Docker's usual expansion
// ("postgres:17-alpine" = "docker.io/library/postgres:17-alpine"; no tag = ":latest").
// A key without a digest also matches the same name and tag pinned by digest, so
// "registry.k8s.io/ingress-nginx/controller:v1.15.1" replaces
// "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:…". A key that equals the image
// exactly (digest included) wins over one without the digest.
type ImageMap map[string]string

// Validate reports empty keys or replacements and keys that mean the same image twice.
func (m ImageMap) Validate() error {
	_, err := m.index()
	return err
}

// Lookup returns the replacement for image, if the map has one.
func (m ImageMap) Lookup(image string) (string, bool) {
	idx, _ := m.index()
	return idx.lookup(image)
}

// Unused returns the keys, sorted, that match none of images: usually a typo in the config file.
func (m ImageMap) Unused(images []string) []string {
	used := map[string]bool{}
	for _, img := range images {
		for _, form := range matchForms(img) {
			used[form] = true
		}
	}
	var unused []string
	for key := range m {
		if !used[canonical(key)] {
			unused = append(unused, key)
		}
	}
	sort.Strings(unused)
	return unused
}

// Images replaces container and init container images of workloads (Pods, Deployments,
// DaemonSets, StatefulSets, ReplicaSets, Jobs, CronJobs) according to m. A replaced image gets
// imagePullPolicy IfNotPresent, so an image loaded into the node is used instead of pulled.
// An invalid map (see Validate) fails every object.
func Images(m ImageMap) Func {
	idx, err := m.index()
	return func(u *unstructured.Unstructured) error {
		if err != nil {
			return err
		}
		return eachContainer(u, func(c map[string]any) error {
			image, _ := c["image"].(string)
			replacement, ok := idx.lookup(image)
			if !ok {
				return nil
			}
			c["image"] = replacement
			c["imagePullPolicy"] = "IfNotPresent"
			return nil
		})
	}
}

// ContainerImages returns every container and init container image of the workloads in objs,
// sorted and without duplicates: what a cluster will pull to run them.
func ContainerImages(objs []*unstructured.Unstructured) ([]string, error) {
	seen := map[string]bool{}
	var errs []error
	for _, u := range objs {
		err := eachContainer(u.DeepCopy(), func(c map[string]any) error {
			if image, _ := c["image"].(string); image != "" {
				seen[image] = true
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", describe(u), err))
		}
	}
	images := make([]string, 0, len(seen))
	for img := range seen {
		images = append(images, img)
	}
	sort.Strings(images)
	return images, errors.Join(errs...)
}

type imageIndex map[string]string // canonical key -> replacement

func (m ImageMap) index() (imageIndex, error) {
	idx := imageIndex{}
	from := map[string]string{} // canonical key -> key as the user wrote it
	var errs []error
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		value := m[key]
		switch {
		case strings.TrimSpace(key) == "":
			errs = append(errs, fmt.Errorf("images: empty image name (replacement %q)", value))
			continue
		case strings.TrimSpace(value) == "":
			errs = append(errs, fmt.Errorf("images: %q has an empty replacement", key))
			continue
		}
		if _, err := imageref.Parse(key); err != nil {
			errs = append(errs, fmt.Errorf("images: %q is not an image reference", key))
			continue
		}
		if _, err := imageref.Parse(value); err != nil {
			errs = append(errs, fmt.Errorf("images: %q is replaced by %q, which is not an image reference", key, value))
			continue
		}
		c := canonical(key)
		if prev, dup := from[c]; dup && idx[c] != value {
			errs = append(errs, fmt.Errorf("images: %q and %q name the same image with different replacements", prev, key))
			continue
		}
		from[c] = key
		idx[c] = value
	}
	return idx, errors.Join(errs...)
}

func (idx imageIndex) lookup(image string) (string, bool) {
	if image == "" {
		return "", false
	}
	for _, form := range matchForms(image) {
		if r, ok := idx[form]; ok {
			return r, true
		}
	}
	return "", false
}

// matchForms returns the canonical forms a key may take to match image, most specific first:
// the image itself, then (if it is pinned by digest and has a tag) its name and tag alone.
func matchForms(image string) []string {
	r, err := imageref.Parse(strings.TrimSpace(image))
	if err != nil {
		return []string{strings.TrimSpace(image)}
	}
	forms := []string{r.Normalized()}
	if r.Pinned() && r.Tag != "" {
		r.Digest = ""
		forms = append(forms, r.Normalized())
	}
	return forms
}

// canonical is an image reference expanded the way Docker does (registry host always present,
// "library/" for official Docker Hub images, tag "latest" when neither tag nor digest is given),
// so that two spellings of one image are one key. What is no reference stays as written: it can
// only match itself.
func canonical(image string) string { return matchForms(image)[0] }
