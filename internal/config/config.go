// Package config reads the kindstack Stack file (apiVersion kindstack.dev/v1alpha1, kind Stack)
// strictly, and holds the one place where every setting gets its default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/mirrors"
	"github.com/kindstack/kindstack/internal/nodeimage"
)

const (
	// APIVersion is the only apiVersion this build reads.
	APIVersion = "kindstack.dev/v1alpha1"
	// Kind is the only kind this build reads.
	Kind = "Stack"
)

// Stack is the file as written: every scalar is a pointer so "not in the file" differs from "zero".
type Stack struct {
	APIVersion    string            `yaml:"apiVersion" json:"apiVersion"`
	Kind          string            `yaml:"kind" json:"kind"`
	Name          *string           `yaml:"name,omitempty" json:"name,omitempty"`
	NodeImage     *string           `yaml:"nodeImage,omitempty" json:"nodeImage,omitempty"`
	ListenAddress *string           `yaml:"listenAddress,omitempty" json:"listenAddress,omitempty"`
	HTTPPort      *int              `yaml:"httpPort,omitempty" json:"httpPort,omitempty"`
	HTTPSPort     *int              `yaml:"httpsPort,omitempty" json:"httpsPort,omitempty"`
	Workers       *int              `yaml:"workers,omitempty" json:"workers,omitempty"`
	Kubeconfig    *string           `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	Timeout       *Duration         `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retain        *bool             `yaml:"retain,omitempty" json:"retain,omitempty"`
	Wait          *bool             `yaml:"wait,omitempty" json:"wait,omitempty"`
	Images        map[string]string `yaml:"images,omitempty" json:"images,omitempty"`
	// RegistryMirrors maps a registry (docker.io, registry.k8s.io) to mirror URLs tried in order.
	RegistryMirrors map[string][]string `yaml:"registryMirrors,omitempty" json:"registryMirrors,omitempty"`
	// InsecureMirrors are mirror URLs whose TLS certificate is not verified.
	InsecureMirrors []string `yaml:"insecureMirrors,omitempty" json:"insecureMirrors,omitempty"`
	Preload         *bool    `yaml:"preload,omitempty" json:"preload,omitempty"`
	// Apps are the user's own apps, installed as components (package apps).
	Apps []App `yaml:"-" json:"apps,omitempty"`
	// Choices are the `<capability>: <value>` fields: which component provides a capability
	// several can provide (see component.Alternative).
	Choices map[string]string `yaml:"-" json:"-"`
	// Components are the components' own fields: `<name>: false` and `<name>: {options}`.
	Components map[string]ComponentSettings `yaml:"-" json:"-"`
}

// Check says what is wrong with the combination of settings that no component owns, every
// problem at once. The components' own options are checked when they are decoded or set.
func (s Settings) Check() error {
	if err := s.Registries.Check(); err != nil {
		return fmt.Errorf("registry mirrors: %w", err)
	}
	return nil
}

// Duration is a Go duration string in the file ("90s", "10m").
type Duration time.Duration

// Settings are the resolved values kindstack runs with: defaults, then the file, then flags.
type Settings struct {
	Name          string
	NodeImage     string
	ListenAddress string
	HTTPPort      int
	HTTPSPort     int
	Workers       int    // worker nodes beside the control-plane node
	Kubeconfig    string // "" means kind's rule: $KUBECONFIG, else ~/.kube/config
	Timeout       time.Duration
	Retain        bool
	// Wait: wait until every component is ready and smoke-test it; false returns once the
	// cluster is up and every component is applied.
	Wait   bool
	Images map[string]string
	// Choices pick the component that provides a capability several can provide, by capability
	// ("ingress" → "traefik"); a capability not here gets its default alternative.
	Choices map[string]string
	// Components are the components' own settings by component name, only where the file or the
	// flags set them.
	Components map[string]ComponentSettings
	// Apps are the user's own apps: the file's, then the --app flags'.
	Apps []App
	// Registries are the node's registry mirrors (changed in place by a later up).
	Registries mirrors.Registries
	// Bundle is an image bundle (`kindstack images save`) imported before anything is pulled.
	Bundle string
	// Preload copies the images the host's engine has into the node before they are needed;
	// false leaves every pull to the node (through its mirrors).
	Preload bool
	// StatusTimeout is status's own budget: it only looks, and a paused node must not hold it.
	StatusTimeout time.Duration
	// NoWait fails at once when another kindstack is changing the cluster, instead of waiting.
	NoWait bool
	// Force lets down and recreate delete a cluster kindstack did not create.
	Force bool
	// Restart starts the stopped or paused node containers of an existing cluster.
	Restart bool
	// KeepContext leaves the kubeconfig's current-context as it is.
	KeepContext bool
	// Diagnostics is where a failed up collects `kindstack logs` ("" = it does not).
	Diagnostics string
	// Context names a kubeconfig context: the commands act on that cluster, which kindstack did
	// not create, instead of a kind cluster ("" = the kind cluster Name).
	Context string
	// IngressClass names an IngressClass of that cluster whose controller provides ingress, so
	// kindstack installs none ("" = kindstack installs its own).
	IngressClass string
}

// Defaults is the one place every setting gets its default value.
func Defaults() Settings {
	return Settings{
		Name:          "kindstack",
		NodeImage:     nodeimage.Default,
		ListenAddress: "127.0.0.1",
		HTTPPort:      80,
		HTTPSPort:     443,
		Timeout:       15 * time.Minute,
		StatusTimeout: 30 * time.Second,
		Retain:        false,
		Wait:          true,
		Preload:       true,
	}
}

// Apply returns s overridden by every field the file sets.
func (s Settings) Apply(st *Stack) Settings {
	if st == nil {
		return s
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&s.Name, st.Name)
	set(&s.NodeImage, st.NodeImage)
	set(&s.ListenAddress, st.ListenAddress)
	set(&s.Kubeconfig, st.Kubeconfig)
	for capability, value := range st.Choices {
		s = s.WithChoice(capability, value)
	}
	for name, cs := range st.Components {
		s = s.WithComponent(name, cs)
	}
	if st.HTTPPort != nil {
		s.HTTPPort = *st.HTTPPort
	}
	if st.HTTPSPort != nil {
		s.HTTPSPort = *st.HTTPSPort
	}
	if st.Workers != nil {
		s.Workers = *st.Workers
	}
	if st.Timeout != nil {
		s.Timeout = time.Duration(*st.Timeout)
	}
	if st.Retain != nil {
		s.Retain = *st.Retain
	}
	if st.Wait != nil {
		s.Wait = *st.Wait
	}
	if st.Preload != nil {
		s.Preload = *st.Preload
	}
	if st.RegistryMirrors != nil {
		s.Registries.Mirrors = make(map[string][]string, len(st.RegistryMirrors))
		for k, v := range st.RegistryMirrors {
			s.Registries.Mirrors[k] = append([]string{}, v...)
		}
	}
	if st.InsecureMirrors != nil {
		s.Registries.Insecure = append([]string{}, st.InsecureMirrors...)
	}
	if st.Apps != nil {
		s.Apps = append([]App{}, st.Apps...)
	}
	if st.Images != nil {
		s.Images = make(map[string]string, len(st.Images))
		for k, v := range st.Images {
			s.Images[k] = v
		}
	}
	return s
}

// Load reads and strictly decodes a Stack file for these components. Every problem found is
// reported, each naming the file, line and field.
func Load(path string, comps []component.Component) (*Stack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	st, err := Decode(data, comps)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	resolveApps(st, path)
	return st, nil
}

// field decodes one known top-level field from its YAML node.
type field func(st *Stack, n *yaml.Node) error

func scalar[T any](kindName string, assign func(st *Stack, v T)) field {
	return func(st *Stack, n *yaml.Node) error {
		var v T
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return fmt.Errorf("want %s, got %s", kindName, describe(n))
		}
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("want %s, got %s", kindName, describe(n))
		}
		assign(st, v)
		return nil
	}
}

func str(assign func(st *Stack, v *string)) field {
	return func(st *Stack, n *yaml.Node) error {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			return fmt.Errorf("want a string, got %s", describe(n))
		}
		v := n.Value
		assign(st, &v)
		return nil
	}
}

func fields() map[string]field {
	return map[string]field{
		"apiVersion":      str(func(st *Stack, v *string) { st.APIVersion = *v }),
		"kind":            str(func(st *Stack, v *string) { st.Kind = *v }),
		"name":            str(func(st *Stack, v *string) { st.Name = v }),
		"nodeImage":       str(func(st *Stack, v *string) { st.NodeImage = v }),
		"listenAddress":   str(func(st *Stack, v *string) { st.ListenAddress = v }),
		"kubeconfig":      str(func(st *Stack, v *string) { st.Kubeconfig = v }),
		"httpPort":        integer(func(st *Stack, v int) { st.HTTPPort = &v }),
		"httpsPort":       integer(func(st *Stack, v int) { st.HTTPSPort = &v }),
		"workers":         integer(func(st *Stack, v int) { st.Workers = &v }),
		"retain":          boolean(func(st *Stack, v bool) { st.Retain = &v }),
		"preload":         boolean(func(st *Stack, v bool) { st.Preload = &v }),
		"wait":            boolean(func(st *Stack, v bool) { st.Wait = &v }),
		"timeout":         decodeTimeout,
		"registryMirrors": decodeRegistryMirrors,
		"insecureMirrors": decodeInsecureMirrors,
		"images":          decodeImages,
		"apps":            decodeApps,
	}
}

// integer is a field that holds an integer, and not a quoted one.
func integer(assign func(st *Stack, v int)) field {
	return func(st *Stack, n *yaml.Node) error {
		if n.Tag != "!!int" {
			return fmt.Errorf("want an integer, got %s", describe(n))
		}
		return scalar("an integer", assign)(st, n)
	}
}

// boolean is a field that holds true or false, and not a quoted one.
func boolean(assign func(st *Stack, v bool)) field {
	return func(st *Stack, n *yaml.Node) error {
		if n.Tag != "!!bool" {
			return fmt.Errorf("want true or false, got %s", describe(n))
		}
		return scalar("true or false", assign)(st, n)
	}
}

func decodeTimeout(st *Stack, n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("want a duration such as \"10m\", got %s", describe(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as \"10m\", got %q", n.Value)
	}
	v := Duration(d)
	st.Timeout = &v
	return nil
}

func decodeRegistryMirrors(st *Stack, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a map of registry to a list of mirror URLs, got %s", describe(n))
	}
	st.RegistryMirrors = map[string][]string{}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		list, err := stringList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: registryMirrors: %s: %w", k.Line, k.Value, err))
			continue
		}
		if err := mirrors.CheckRegistry(k.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: registryMirrors: %w", k.Line, err))
		}
		for j, m := range list {
			if err := mirrors.CheckMirrorURL(m); err != nil {
				errs = append(errs, fmt.Errorf("line %d: registryMirrors: %s: %w", v.Content[j].Line, k.Value, err))
			}
		}
		if len(list) == 0 {
			errs = append(errs, fmt.Errorf("line %d: registryMirrors: %s: the list of mirrors is empty", k.Line, k.Value))
		}
		st.RegistryMirrors[k.Value] = list
	}
	return errors.Join(errs...)
}

func decodeInsecureMirrors(st *Stack, n *yaml.Node) error {
	list, err := stringList(n)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range list {
		if err := mirrors.CheckMirrorURL(m); err != nil {
			errs = append(errs, err)
		}
	}
	st.InsecureMirrors = list
	return errors.Join(errs...)
}

func decodeImages(st *Stack, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a map of upstream image to replacement, got %s", describe(n))
	}
	st.Images = map[string]string{}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		// A !!binary key would be taken as its base64 text (found by FuzzImagesMap).
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			errs = append(errs, fmt.Errorf("line %d: images: key %s: want a string image reference", k.Line, describe(k)))
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			errs = append(errs, fmt.Errorf("line %d: images: entry %q: want a string image reference, got %s", k.Line, k.Value, describe(v)))
			continue
		}
		// Both sides are image references, read by the one parser: anything else would only
		// ever match itself, or be written into a manifest the node cannot pull.
		if _, err := imageref.Parse(k.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: images: key %q is not an image reference (like registry.k8s.io/pause:3.10)", k.Line, k.Value))
			continue
		}
		if _, err := imageref.Parse(v.Value); err != nil {
			errs = append(errs, fmt.Errorf("line %d: images: %q is replaced by %q, which is not an image reference (like mirror.example.com/pause:3.10)", v.Line, k.Value, v.Value))
			continue
		}
		st.Images[k.Value] = v.Value
	}
	return errors.Join(errs...)
}

// stringList decodes a YAML list of strings.
func stringList(n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list of URLs, got %s", describe(n))
	}
	list := []string{}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return nil, fmt.Errorf("want a list of URLs, got %s in it", describe(item))
		}
		list = append(list, item.Value)
	}
	return list, nil
}

// Decode strictly decodes one Stack document for these components (their sections, aliases and
// choices are fields of the file too). An unknown field, a duplicate field or a wrong type is an
// error naming the field and its line; all such errors are returned together.
func Decode(data []byte, comps []component.Component) (*Stack, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty; want apiVersion: " + APIVersion + ", kind: " + Kind)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: a second YAML document; a config file holds one Stack", extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping (apiVersion, kind, ...), got %s", root.Line, describe(root))
	}

	known := fields()
	for name, f := range componentFields(comps) {
		known[name] = f
	}
	st := &Stack{}
	errs, seen := eachField(root, known, func(k, v *yaml.Node, decode field) error {
		if err := decode(st, v); err != nil {
			return fmt.Errorf("line %d: field %q: %w", v.Line, k.Value, err)
		}
		return nil
	})
	if _, ok := seen["apiVersion"]; !ok {
		errs = append(errs, fmt.Errorf("line %d: field \"apiVersion\" is missing; want %s", root.Line, APIVersion))
	} else if st.APIVersion != "" && st.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("line %d: apiVersion %q is not supported; want %s", seen["apiVersion"], st.APIVersion, APIVersion))
	}
	if _, ok := seen["kind"]; !ok {
		errs = append(errs, fmt.Errorf("line %d: field \"kind\" is missing; want %s", root.Line, Kind))
	} else if st.Kind != "" && st.Kind != Kind {
		errs = append(errs, fmt.Errorf("line %d: kind %q is not supported; want %s", seen["kind"], st.Kind, Kind))
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return lineOf(errs[i]) < lineOf(errs[j]) })
		return nil, errors.Join(errs...)
	}
	return st, nil
}

func lineOf(err error) int {
	var n int
	_, _ = fmt.Sscanf(err.Error(), "line %d:", &n)
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int":
		return "the integer " + n.Value
	case "!!bool":
		return n.Value
	case "!!float":
		return "the number " + n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

// eachField walks a mapping's keys: a repeated key, or one that known does not hold, is an error
// naming its line (with the known name it may be a typo of); every other key goes to each, with
// its value and what known holds for it. It returns the errors and the line of every key.
func eachField[T any](n *yaml.Node, known map[string]T, each func(k, v *yaml.Node, decode T) error) ([]error, map[string]int) {
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			errs = append(errs, fmt.Errorf("line %d: field %q repeats line %d", k.Line, k.Value, first))
			continue
		}
		seen[k.Value] = k.Line
		decode, ok := known[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: unknown field %q%s", k.Line, k.Value, suggest(k.Value, known)))
			continue
		}
		if err := each(k, v, decode); err != nil {
			errs = append(errs, err)
		}
	}
	return errs, seen
}

// suggest names the known field closest to a misspelt one (same letters ignoring case, or one edit away).
func suggest[T any](got string, known map[string]T) string {
	for _, name := range slices.Sorted(maps.Keys(known)) {
		if strings.EqualFold(name, got) || editDistance(strings.ToLower(name), strings.ToLower(got)) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
