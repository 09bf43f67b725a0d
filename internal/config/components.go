package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kindstack/kindstack/internal/component"
)

// ComponentSettings are one component's settings, where the file or the flags set them.
type ComponentSettings struct {
	// Enabled switches an optional component on or off; nil leaves it at its default (on).
	Enabled *bool
	// Options are its own options (a pointer to its options type) once the user set any of them;
	// nil means its defaults.
	Options any
}

// WithChoice returns s choosing value for capability (`--ingress traefik`).
func (s Settings) WithChoice(capability, value string) Settings {
	s.Choices = maps.Clone(s.Choices)
	if s.Choices == nil {
		s.Choices = map[string]string{}
	}
	s.Choices[capability] = value
	return s
}

// WithComponent returns s with what cs sets of component name's settings.
func (s Settings) WithComponent(name string, cs ComponentSettings) Settings {
	s.Components = maps.Clone(s.Components)
	if s.Components == nil {
		s.Components = map[string]ComponentSettings{}
	}
	have := s.Components[name]
	if cs.Enabled != nil {
		on := *cs.Enabled
		have.Enabled = &on
	}
	if cs.Options != nil {
		have.Options = cs.Options
	}
	s.Components[name] = have
	return s
}

// Enabled reports whether an optional component is switched on (the default).
func (s Settings) Enabled(name string) bool {
	e := s.Components[name].Enabled
	return e == nil || *e
}

// OptedIn reports whether an opt-in component is switched on: explicitly, or by setting any of
// its options (`registry: {port: 5002}`, `--registry-port 5002`) without switching it off.
func (s Settings) OptedIn(name string) bool {
	cs := s.Components[name]
	if cs.Enabled != nil {
		return *cs.Enabled
	}
	return cs.Options != nil
}

// SetOption returns s with field of c's options set from a command-line value, decoded and checked
// exactly as the same field in the config file.
func (s Settings) SetOption(c component.Component, field, value string) (Settings, error) {
	if c.Options == nil {
		return s, fmt.Errorf("%s has no options", c.Name)
	}
	opts := c.Options.New()
	if have := s.Components[c.Name].Options; have != nil {
		reflect.ValueOf(opts).Elem().Set(reflect.ValueOf(have).Elem())
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(value), &n); err != nil || len(n.Content) != 1 {
		n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	} else {
		n = *n.Content[0]
	}
	f, ok := fieldByTag(reflect.ValueOf(opts).Elem(), field)
	if !ok {
		return s, fmt.Errorf("%s has no option %q", c.Name, field)
	}
	if f.Kind() == reflect.String && n.Kind == yaml.ScalarNode {
		n.Tag = "!!str" // a flag's value is a string, whatever it looks like
	}
	if err := decodeValue(&n, f); err != nil {
		return s, err
	}
	if err := c.Options.Check(opts); err != nil {
		return s, err
	}
	return s.WithComponent(c.Name, ComponentSettings{Options: opts}), nil
}

// componentFields are the top-level fields the components add to the file: `<capability>:
// <value>` for a capability with alternatives, `<name>:` for each component with options or an
// off switch, and the aliases of their options.
func componentFields(comps []component.Component) map[string]field {
	out := map[string]field{}
	alternatives := map[component.Capability][]string{}
	for _, c := range comps {
		if a := c.Alternative; a != nil {
			alternatives[a.Capability] = append(alternatives[a.Capability], a.Value)
		}
	}
	for capability, values := range alternatives {
		name := string(capability)
		out[name] = str(func(st *Stack, v *string) {
			if st.Choices == nil {
				st.Choices = map[string]string{}
			}
			st.Choices[name] = *v
		}).then(func(st *Stack, _ *yaml.Node) error {
			return CheckChoice(name, st.Choices[name], values)
		})
	}
	for _, c := range comps {
		if c.Options == nil && !c.Optional && !c.OptIn {
			continue
		}
		out[c.Name] = func(st *Stack, n *yaml.Node) error { return decodeComponent(st, c, n) }
		if c.Options == nil {
			continue
		}
		for alias, target := range c.Options.Aliases {
			out[alias] = func(st *Stack, n *yaml.Node) error {
				section := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: target, Line: n.Line}, n,
				}}
				return decodeOptions(st, c, section, alias)
			}
		}
	}
	return out
}

// CheckChoice says what is wrong with value as the choice for a capability, or nil.
func CheckChoice(capability, value string, values []string) error {
	for _, v := range values {
		if v == value {
			return nil
		}
	}
	sorted := append([]string{}, values...)
	sort.Strings(sorted)
	return fmt.Errorf("unknown %s %q: want %s", capability, value, strings.Join(sorted, " or "))
}

// then runs next after f succeeds.
func (f field) then(next field) field {
	return func(st *Stack, n *yaml.Node) error {
		if err := f(st, n); err != nil {
			return err
		}
		return next(st, n)
	}
}

// decodeComponent reads `<name>: true|false` (an optional component's switch) or `<name>:
// {options}` (its section).
func decodeComponent(st *Stack, c component.Component, n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool" && (c.Optional || c.OptIn):
		var on bool
		if err := n.Decode(&on); err != nil {
			return fmt.Errorf("want true or false, got %s", describe(n))
		}
		setComponent(st, c.Name, ComponentSettings{Enabled: &on})
		return nil
	case n.Kind == yaml.MappingNode && c.Options != nil:
		return decodeOptions(st, c, n, "")
	}
	switch {
	case (c.Optional || c.OptIn) && c.Options != nil:
		return fmt.Errorf("want true, false or a mapping of %s's options, got %s", c.Name, describe(n))
	case c.Optional || c.OptIn:
		return fmt.Errorf("want true or false, got %s", describe(n))
	}
	return fmt.Errorf("want a mapping of %s's options, got %s", c.Name, describe(n))
}

// decodeOptions decodes a section into c's options (those decoded before it kept) and checks
// them. alias, when set, is the top-level field the section stands for.
func decodeOptions(st *Stack, c component.Component, section *yaml.Node, alias string) error {
	opts := c.Options.New()
	if have := st.Components[c.Name].Options; have != nil {
		opts = have
	}
	errs := decodeSection(section, reflect.ValueOf(opts).Elem(), alias == "")
	if alias != "" && len(errs) == 1 {
		return errs[0] // the alias is the field: its line and name are already said
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := c.Options.Check(opts); err != nil {
		return err
	}
	setComponent(st, c.Name, ComponentSettings{Options: opts})
	return nil
}

func setComponent(st *Stack, name string, cs ComponentSettings) {
	if st.Components == nil {
		st.Components = map[string]ComponentSettings{}
	}
	have := st.Components[name]
	if cs.Enabled != nil {
		have.Enabled = cs.Enabled
	}
	if cs.Options != nil {
		have.Options = cs.Options
	}
	st.Components[name] = have
}

// decodeSection decodes a mapping into the struct dst by its fields' yaml tags, strictly: an
// unknown or repeated key, or a value of the wrong type, is an error naming its line. named says
// whether errors name the key (not for an alias, whose field is already named).
func decodeSection(n *yaml.Node, dst reflect.Value, named bool) []error {
	fields := map[string]reflect.Value{}
	for i := 0; i < dst.NumField(); i++ {
		if name := tagName(dst.Type().Field(i)); name != "" {
			fields[name] = dst.Field(i)
		}
	}
	errs, _ := eachField(n, fields, func(k, v *yaml.Node, f reflect.Value) error {
		err := decodeValue(v, f)
		if err != nil && named {
			err = fmt.Errorf("line %d: field %q: %w", v.Line, k.Value, err)
		}
		return err
	})
	return errs
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	for i := 0; i < v.NumField(); i++ {
		if tagName(v.Type().Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// decodeValue decodes n into v, wanting exactly v's type: a quoted number is a string, not a port.
func decodeValue(n *yaml.Node, v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			return fmt.Errorf("want a string, got %s", describe(n))
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			return fmt.Errorf("want true or false, got %s", describe(n))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			return fmt.Errorf("want an integer, got %s", describe(n))
		}
		v.SetInt(i)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("want a list, got %s", describe(n))
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeValue(item, out.Index(i)); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		v.Set(out)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("want a mapping, got %s", describe(n))
		}
		out := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(n.Content[i+1], elem); err != nil {
				return fmt.Errorf("%s: %w", n.Content[i].Value, err)
			}
			out.SetMapIndex(reflect.ValueOf(n.Content[i].Value), elem)
		}
		v.Set(out)
	default:
		return fmt.Errorf("options of type %s cannot be read from a config file", v.Type())
	}
	return nil
}
