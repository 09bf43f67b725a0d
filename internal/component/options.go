package component

import (
	"fmt"

	"github.com/kindstack/kindstack/internal/kube"
)

// Options describes a component's own settings: a typed struct of its own, whose `yaml` tags name
// the fields of its section of the config file (`<name>: {field: value}`), decoded strictly with
// line numbers by package config like every other field.
type Options struct {
	// New returns the defaults: a pointer to the component's options struct.
	New func() any
	// Check says what is wrong with a decoded value (a pointer New returned), every problem at
	// once, or nil.
	Check func(opts any) error
	// Aliases are top-level fields of the config file that set one field of the section, as
	// earlier files spelt them: "exampleRoute" → "route".
	Aliases map[string]string
	// Flags set fields of the section from the command line.
	Flags []Flag
	// FromCluster, when the user set none of the component's options, sets opts to describe what
	// the cluster runs, from the objects its inventory records for the component: `status` then
	// reports the cluster as it is without being told again.
	FromCluster func(opts any, recorded []kube.Ref)
}

// Flag is a command-line flag that sets one field of a component's section; its value is decoded
// and checked exactly as the field's value in the config file.
type Flag struct {
	// Name is the flag without dashes, e.g. "example-route".
	Name string
	// Field is the section's field it sets (its yaml tag), e.g. "route".
	Field string
	Usage string
}

// OptionsOf returns the component's options in p as their own type: p.Options, or the defaults of
// T's zero value when p carries none (a component built for listing images, say).
func OptionsOf[T any](p Params) T {
	if o, ok := p.Options.(*T); ok && o != nil {
		return *o
	}
	var zero T
	return zero
}

// Typed is Options for a component whose options are T: New returns a copy of defaults, and Check
// gets a T.
func Typed[T any](defaults T, check func(T) error) *Options {
	return &Options{
		New: func() any {
			v := defaults
			return &v
		},
		Check: func(opts any) error {
			o, ok := opts.(*T)
			if !ok {
				return fmt.Errorf("options of type %T, want %T", opts, o)
			}
			if check == nil {
				return nil
			}
			return check(*o)
		},
	}
}
