// Package catalogue is the one list of the components kindstack can install. Adding one is a file
// in addons/ or workloads/ that returns a component.Component, and a line here: its options,
// flags, config section, order and concurrency follow from its data.
package catalogue

import (
	"github.com/kindstack/kindstack/addons"
	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/workloads"
)

// All returns every component, in the order they are reported.
func All() []component.Component {
	return []component.Component{
		addons.IngressNginx(),
		addons.Traefik(),
		addons.MetricsServer(),
		addons.Registry(),
		workloads.Example(),
	}
}
