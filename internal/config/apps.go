package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// App is one of the user's own apps (`apps:` in the file, `--app PATH` on the command line): a
// directory of manifests, a Kustomization or a Helm chart that kindstack installs as a component
// of its own. Package apps turns it into a component.Component; this is only what the user wrote.
type App struct {
	// Name is the component's name (labels, inventory, progress lines) and the capability it
	// provides to other apps.
	Name string `json:"name"`
	// Path is a directory of manifests or a Kustomization; Chart a Helm chart directory or .tgz.
	// Exactly one is set. Paths in a file are relative to the file (Load resolves them).
	Path  string `json:"path,omitempty"`
	Chart string `json:"chart,omitempty"`
	// Namespace is where its namespaced objects without a namespace go (the chart's release
	// namespace); "" means the app's name.
	Namespace string `json:"namespace,omitempty"`
	// Values are the chart's values (like helm's --set, applied after ValuesFiles, in order).
	Values      map[string]any `json:"values,omitempty"`
	ValuesFiles []string       `json:"valuesFiles,omitempty"`
	// Needs are capabilities (ingress, metrics, gateway) or other apps' names it waits for.
	Needs []string `json:"needs,omitempty"`
	// Smoke are requests through the ingress that prove it works.
	Smoke []AppSmoke `json:"smoke,omitempty"`
	// URLs are paths through the ingress printed when `up` is done.
	URLs []string `json:"urls,omitempty"`

	// File and Line say where the app was written; Lines the line of each of its fields.
	File  string         `json:"-"`
	Line  int            `json:"-"`
	Lines map[string]int `json:"-"`
	// Flag is the command-line flag that made it (`--app ./web`), when no file did. The path of
	// such an app may be a chart: package apps tells by what it finds there.
	Flag string `json:"-"`
}

// AppSmoke is one request through the ingress and what its answer must be.
type AppSmoke struct {
	Path string `json:"path"`
	// Status is the HTTP status wanted; 0 means 200.
	Status int `json:"status,omitempty"`
	// Contains is text the body must contain ("" = any body).
	Contains string `json:"contains,omitempty"`
}

// Where says where field of the app was written, for a message: `config file F, line N` (the
// field's own line, else the app's), or the flag.
func (a App) Where(field string) string {
	if a.Flag != "" {
		return a.Flag
	}
	line := a.Line
	if l, ok := a.Lines[field]; ok {
		line = l
	}
	if a.File == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("config file %s, line %d", a.File, line)
}

// resolveApps makes the apps' paths relative to the file's directory and notes the file.
func resolveApps(st *Stack, file string) {
	dir := filepath.Dir(file)
	join := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range st.Apps {
		a := &st.Apps[i]
		a.File = file
		a.Path, a.Chart = join(a.Path), join(a.Chart)
		for j, f := range a.ValuesFiles {
			a.ValuesFiles[j] = join(f)
		}
	}
}

// decodeApps reads `apps:`, a list of mappings, strictly: every field of an app is checked for
// its type here; whether its path exists and its objects build is package apps' business.
func decodeApps(st *Stack, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of apps (each with name and path or chart), got %s", describe(n))
	}
	var errs []error
	for _, item := range n.Content {
		app, err := decodeApp(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.Apps = append(st.Apps, app)
	}
	return errors.Join(errs...)
}

func decodeApp(n *yaml.Node) (App, error) {
	app := App{Line: n.Line, Lines: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		return app, fmt.Errorf("line %d: apps: want a mapping (name, path or chart, ...), got %s", n.Line, describe(n))
	}
	strField := func(dst *string) func(n *yaml.Node) error {
		return func(n *yaml.Node) error {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || n.Value == "" {
				return fmt.Errorf("want a non-empty string, got %s", describe(n))
			}
			*dst = n.Value
			return nil
		}
	}
	strList := func(dst *[]string) func(n *yaml.Node) error {
		return func(n *yaml.Node) error {
			if n.Kind != yaml.SequenceNode {
				return fmt.Errorf("want a list of strings, got %s", describe(n))
			}
			for _, item := range n.Content {
				if item.Kind != yaml.ScalarNode || item.Tag != "!!str" || item.Value == "" {
					return fmt.Errorf("want a list of non-empty strings, got %s in it", describe(item))
				}
				*dst = append(*dst, item.Value)
			}
			return nil
		}
	}
	known := map[string]func(n *yaml.Node) error{
		"name":        strField(&app.Name),
		"path":        strField(&app.Path),
		"chart":       strField(&app.Chart),
		"namespace":   strField(&app.Namespace),
		"valuesFiles": strList(&app.ValuesFiles),
		"needs":       strList(&app.Needs),
		"urls":        strList(&app.URLs),
		"values": func(n *yaml.Node) error {
			if n.Kind != yaml.MappingNode {
				return fmt.Errorf("want a mapping of the chart's values, got %s", describe(n))
			}
			data, err := yaml.Marshal(n)
			if err == nil {
				err = sigsyaml.Unmarshal(data, &app.Values)
			}
			if err != nil {
				return fmt.Errorf("want a mapping of the chart's values: %w", err)
			}
			return nil
		},
		"smoke": func(n *yaml.Node) error {
			items := []*yaml.Node{n}
			if n.Kind == yaml.SequenceNode {
				items = n.Content
			}
			for _, item := range items {
				s, err := decodeAppSmoke(item)
				if err != nil {
					return err
				}
				app.Smoke = append(app.Smoke, s)
			}
			return nil
		},
	}
	errs, seen := eachField(n, known, func(k, v *yaml.Node, decode func(*yaml.Node) error) error {
		if err := decode(v); err != nil {
			return fmt.Errorf("line %d: apps: field %q: %w", v.Line, k.Value, err)
		}
		return nil
	})
	for name, line := range seen {
		app.Lines[name] = line
	}
	if _, ok := seen["name"]; !ok {
		errs = append(errs, fmt.Errorf("line %d: apps: an app without a name; every app needs `name:`", n.Line))
	}
	_, path := seen["path"]
	_, chart := seen["chart"]
	switch {
	case path && chart:
		errs = append(errs, fmt.Errorf("line %d: app %q has both path and chart; give one: path for manifests or a Kustomization, chart for a Helm chart", n.Line, app.Name))
	case !path && !chart:
		errs = append(errs, fmt.Errorf("line %d: app %q has neither path nor chart; give one: path for manifests or a Kustomization, chart for a Helm chart", n.Line, app.Name))
	case path:
		for _, f := range []string{"values", "valuesFiles"} {
			if line, ok := seen[f]; ok {
				errs = append(errs, fmt.Errorf("line %d: app %q: %s is for a chart, and this app is a path", line, app.Name, f))
			}
		}
	}
	return app, errors.Join(errs...)
}

func decodeAppSmoke(n *yaml.Node) (AppSmoke, error) {
	var s AppSmoke
	if n.Kind != yaml.MappingNode {
		return s, fmt.Errorf("want a mapping (path, status, contains) or a list of them, got %s", describe(n))
	}
	known := map[string]func(n *yaml.Node) error{
		"path": func(n *yaml.Node) error {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || len(n.Value) == 0 || n.Value[0] != '/' {
				return fmt.Errorf("want a path starting with /, got %s", describe(n))
			}
			s.Path = n.Value
			return nil
		},
		"status": func(n *yaml.Node) error {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&s.Status) != nil || s.Status < 100 || s.Status > 599 {
				return fmt.Errorf("want an HTTP status such as 200, got %s", describe(n))
			}
			return nil
		},
		"contains": func(n *yaml.Node) error {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
				return fmt.Errorf("want a string, got %s", describe(n))
			}
			s.Contains = n.Value
			return nil
		},
	}
	errs, seen := eachField(n, known, func(k, v *yaml.Node, decode func(*yaml.Node) error) error {
		if err := decode(v); err != nil {
			return fmt.Errorf("line %d: smoke: field %q: %w", v.Line, k.Value, err)
		}
		return nil
	})
	if _, ok := seen["path"]; !ok {
		errs = append(errs, fmt.Errorf("line %d: smoke: the path to request is missing", n.Line))
	}
	return s, errors.Join(errs...)
}
