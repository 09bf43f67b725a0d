// Package apps makes the user's own apps (config.App: a directory of manifests, a Kustomization, a
// Helm chart) into components like the built-in ones: their objects are made here (the manifests
// read, the Kustomization built with kustomize's krusty, the chart rendered with Helm's SDK) and
// then installed by the one engine with kindstack's labels, inventory, waits and prune. The user's
// files are read, never written.
//
// Everything wrong with an app is one sentence naming where it was written (the config file and
// line, or the --app flag), found before anything changes: Check reads the apps as written,
// building them (Components' Source) reads their files, CheckObjects compares what they make
// with every other component's objects.
package apps

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

// Capabilities an app may need besides other apps: what the built-in components provide.
var capabilities = []component.Capability{component.Ingress, component.Metrics, component.Gateway}

// Components returns one component per app, in the order given. Making an app's objects reads its
// files, once per component value, when the component is built (component.Build).
func Components(specs []config.App) []component.Component {
	out := make([]component.Component, 0, len(specs))
	for _, a := range specs {
		out = append(out, componentOf(a))
	}
	return out
}

func componentOf(a config.App) component.Component {
	var once sync.Once
	var made []*unstructured.Unstructured
	var madeErr error
	source := func(component.Params) ([]*unstructured.Unstructured, error) {
		once.Do(func() { made, madeErr = objectsOf(a) })
		if madeErr != nil {
			return nil, madeErr
		}
		out := make([]*unstructured.Unstructured, len(made))
		for i, o := range made {
			out[i] = o.DeepCopy() // the transforms change what they get
		}
		return out, nil
	}
	c := component.Component{
		Name:     a.Name,
		Summary:  "your app " + a.Name,
		Source:   source,
		Provides: []component.Capability{component.Capability(a.Name)},
		URLs:     slices.Clone(a.URLs),
		Transforms: func(p component.Params) []transform.Func {
			return []transform.Func{transform.Images(p.Images)}
		},
		// Its Ingress may reach the ingress controller's admission webhook while that one starts.
		Apply: kube.ApplyOptions{RetryWebhookErrors: true},
	}
	for _, n := range a.Needs {
		// The whole app waits: its objects are applied once what it needs is ready.
		c.Needs = append(c.Needs, component.Need{Capability: component.Capability(n), Objects: func(*unstructured.Unstructured) bool { return true }})
	}
	for _, s := range a.Smoke {
		c.Smoke = append(c.Smoke, request(a.Name, s))
	}
	return c
}

func request(app string, s config.AppSmoke) component.Request {
	r := component.Request{Path: s.Path, Status: s.Status, Proves: "ingress -> " + app}
	if want := s.Contains; want != "" {
		r.Check = func(body []byte) string {
			if !strings.Contains(string(body), want) {
				return fmt.Sprintf("the answer does not contain %q", want)
			}
			return ""
		}
	}
	return r
}

// Check says what is wrong with the apps as written, every problem at once, each naming where it
// was written: a name that is not a DNS label, used twice, or taken by a built-in component or a
// capability; a namespace that is not a DNS label; a URL that is not a path; a need that names
// nothing, the app itself, or closes a cycle.
func Check(specs []config.App, builtins []component.Component) error {
	var errs []error
	builtin := map[string]bool{}
	for _, c := range builtins {
		builtin[c.Name] = true
	}
	first := map[string]config.App{}
	for _, a := range specs {
		where := a.Where("name")
		switch {
		case len(validation.IsDNS1123Label(a.Name)) > 0:
			errs = append(errs, fmt.Errorf("%s: app name %q is not a DNS label (lower case letters, digits and '-', at most 63)", where, a.Name))
		case builtin[a.Name]:
			errs = append(errs, fmt.Errorf("%s: app name %q is a built-in component's; name the app differently", where, a.Name))
		case slices.Contains(capabilities, component.Capability(a.Name)):
			errs = append(errs, fmt.Errorf("%s: app name %q is a capability's (what apps write in needs:); name the app differently", where, a.Name))
		case strings.HasSuffix(a.Name, "-kept"):
			errs = append(errs, fmt.Errorf("%s: app name %q ends in -kept, which kindstack keeps for its own records; name the app differently", where, a.Name))
		}
		if other, dup := first[a.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: a second app named %q (the first: %s)", where, a.Name, other.Where("name")))
		} else {
			first[a.Name] = a
		}
		if a.Namespace != "" && len(validation.IsDNS1123Label(a.Namespace)) > 0 {
			errs = append(errs, fmt.Errorf("%s: app %q: namespace %q is not a DNS label", a.Where("namespace"), a.Name, a.Namespace))
		}
		for _, u := range a.URLs {
			if !strings.HasPrefix(u, "/") {
				errs = append(errs, fmt.Errorf("%s: app %q: URL %q is not a path through the ingress (like /shop/)", a.Where("urls"), a.Name, u))
			}
		}
		for _, n := range a.Needs {
			switch {
			case n == a.Name:
				errs = append(errs, fmt.Errorf("%s: app %q needs itself", a.Where("needs"), a.Name))
			case slices.Contains(capabilities, component.Capability(n)):
			case !slices.ContainsFunc(specs, func(o config.App) bool { return o.Name == n }):
				errs = append(errs, fmt.Errorf("%s: app %q needs %q, which is neither ingress, metrics, gateway nor an app's name", a.Where("needs"), a.Name, n))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return checkCycles(specs)
}

// checkCycles walks the apps' needs depth first; an app met again on the current path closes a cycle.
func checkCycles(specs []config.App) error {
	byName := map[string]config.App{}
	for _, a := range specs {
		byName[a.Name] = a
	}
	done := map[string]bool{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		if i := slices.Index(path, name); i >= 0 {
			a := byName[path[len(path)-1]]
			return fmt.Errorf("%s: apps wait for each other: %s", a.Where("needs"), strings.Join(append(path[i:], name), " → "))
		}
		if done[name] {
			return nil
		}
		for _, n := range byName[name].Needs {
			if _, isApp := byName[n]; isApp {
				if err := visit(n, append(slices.Clone(path), name)); err != nil {
					return err
				}
			}
		}
		done[name] = true
		return nil
	}
	for _, a := range specs {
		if err := visit(a.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// CheckObjects says what is wrong with what the apps make, next to every other component's objects
// (sets, by component name): an object another component applies too (same kind, namespace and
// name: one would overwrite the other, and prune would take it from both), and two apps with
// objects in one namespace (removing one would leave the other half its namespace's owner).
func CheckObjects(specs []config.App, sets map[string]kube.Set) error {
	isApp := map[string]config.App{}
	for _, a := range specs {
		isApp[a.Name] = a
	}
	owner := map[kube.Ref]string{}
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		if _, ok := isApp[name]; ok {
			continue
		}
		for _, r := range kube.RefsOf(sets[name].Objects) {
			owner[r] = name
		}
	}
	var errs []error
	namespaces := map[string]string{} // namespace → the first app with objects there
	for _, a := range specs {
		set, built := sets[a.Name]
		if !built {
			continue
		}
		var mine []string
		for _, r := range kube.RefsOf(set.Objects) {
			if other, taken := owner[r]; taken {
				whose := fmt.Sprintf("the built-in component %s's", other)
				if o, ok := isApp[other]; ok {
					whose = fmt.Sprintf("app %q's (%s)", other, o.Where("name"))
				}
				errs = append(errs, fmt.Errorf("%s: app %q makes %s, which is %s too; rename or remove one", a.Where("name"), a.Name, r, whose))
				continue
			}
			owner[r] = a.Name
			ns := r.Namespace
			if r.Group == "" && r.Kind == "Namespace" {
				ns = r.Name
			}
			if ns != "" && !slices.Contains(mine, ns) {
				mine = append(mine, ns)
			}
		}
		for _, ns := range mine {
			if other, taken := namespaces[ns]; taken {
				errs = append(errs, fmt.Errorf("%s: app %q puts objects in namespace %q, where app %q (%s) has objects too; give each app its own namespace",
					a.Where("name"), a.Name, ns, other, isApp[other].Where("name")))
				continue
			}
			namespaces[ns] = a.Name
		}
	}
	return errors.Join(errs...)
}

// FromFlag is the app `--app PATH` asks for: named after the directory (or the chart archive,
// without its version), whatever kind of app the path holds.
func FromFlag(path string) config.App {
	return config.App{Name: nameFrom(path), Path: path, Flag: "--app " + path}
}

var chartVersion = regexp.MustCompile(`-v?\d+\.\d+\.\d+.*$`)

// nameFrom makes a DNS label of a path's last element: "./My_Shop" → "my-shop",
// "charts/shop-0.1.0.tgz" → "shop".
func nameFrom(path string) string {
	base := filepath.Base(filepath.Clean(path))
	if abs, err := filepath.Abs(path); err == nil {
		base = filepath.Base(abs)
	}
	if strings.HasSuffix(base, ".tgz") {
		base = chartVersion.ReplaceAllString(strings.TrimSuffix(base, ".tgz"), "")
	}
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > validation.DNS1123LabelMaxLength {
		name = strings.TrimRight(name[:validation.DNS1123LabelMaxLength], "-")
	}
	return name
}

// exists says what is wrong with a path the app names, or nil.
func exists(a config.App, field, path string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: app %q: %s does not exist", a.Where(field), a.Name, path)
		}
		return fmt.Errorf("%s: app %q: %w", a.Where(field), a.Name, err)
	}
	return nil
}
