// Package component says what a kindstack component is: complete data. A component names its
// manifests, the transforms that apply kindstack's policy to them, its readiness gates, its apply
// policy, the capabilities it provides once ready and the ones it needs first, its own options
// (a typed struct decoded from its own section of the config file, and its flags), the requests
// that prove it works through the ingress and the URLs it prints, and what it asks of the cluster.
// The pipeline derives order and concurrency from Provides and Needs; nothing outside the
// components and the catalogue is keyed on a component's name.
//
// Adding a component is one file that returns a Component (see package addons or workloads) and
// one entry in the catalogue (package catalogue).
package component

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kindstack/kindstack/embed"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
	"github.com/kindstack/kindstack/internal/webhookcert"
)

// Capability is something a component offers the others once it is ready.
type Capability string

const (
	// Ingress: Ingress objects of class nginx are admitted (any admission webhook serves) and served
	// on the host ports.
	Ingress Capability = "ingress"
	// Metrics: the metrics.k8s.io API serves node and pod metrics, so autoscalers can compute.
	Metrics Capability = "metrics"
	// Gateway: the Gateway API CRDs are established and the Gateway "kindstack" is programmed, so
	// HTTPRoutes attached to it are served on the host ports.
	Gateway Capability = "gateway"
)

// Params are the settings that shape a component's objects.
type Params struct {
	// Images replaces upstream images (mirrors, images loaded into the cluster).
	Images transform.ImageMap
	// IngressNode selects the node whose ports 80/443 are mapped to the host.
	IngressNode map[string]string
	// IngressClass is the class of the ingress controller the cluster already runs
	// (`--ingress-class`); "" means the one kindstack installs (nginx).
	IngressClass string
	// Options are the component's own options: a pointer to its Options.New type; nil means its
	// defaults.
	Options any
	// Fetch returns a remote manifest's YAML; nil builds without remote manifests (see Component.Remote).
	Fetch func(Remote) ([]byte, error)
}

// Remote is a manifest kindstack does not ship but takes from a Go module, verified by the module's
// go.sum hash: the upstream project's own files (e.g. the Gateway API CRDs), never copied into
// kindstack. A remote manifest runs no containers (Build refuses one that does), so listing
// images never needs the network.
type Remote struct {
	// Name is what errors and the inventory call it, e.g. "gateway-api-v1.6.1-standard".
	Name string
	// Module and Version name the Go module; Sum is its go.sum hash ("h1:...").
	Module, Version, Sum string
	// Dir is the directory of the module whose *.yaml files, in name order, make the manifest.
	Dir string
}

// Need is a capability a component waits for before it applies some of its objects, or before
// it is ready.
type Need struct {
	Capability Capability
	// Objects selects the objects that need the capability: applied only once it is ready.
	Objects func(*unstructured.Unstructured) bool
	// AtOnce applies those objects with the others: the API server accepts them without the
	// capability, which they need only to work (an autoscaler reads metrics it cannot have yet).
	// The component is still ready only once the capability is, and fails when its provider does.
	AtOnce bool
}

// Component is one thing `up` installs and `status` reports.
type Component struct {
	// Name is what progress lines, errors, labels and the inventory call it, and the key of its
	// section in the config file.
	Name string
	// Summary says in a few words what it is, for help texts.
	Summary string
	// Files holds its manifests; nil means kindstack's embedded ones (package embed).
	Files fs.FS
	// Manifests lists the files of Files for these params, decoded in this order.
	Manifests func(Params) []string
	// Remote manifests are decoded before the embedded ones.
	Remote []Remote
	// Source, when set, makes objects by code rather than reading them from Files (a user's
	// Kustomization built, a Helm chart rendered); they come after the remote manifests and before
	// Manifests. Its errors name their origin themselves and are returned as they are.
	Source func(Params) ([]*unstructured.Unstructured, error)
	// Transforms apply kindstack's policy to the decoded objects (images, node selectors, args).
	Transforms func(Params) []transform.Func
	// Gates lists the checks made after every object is Current, for these params.
	Gates func(Params) []kube.Gate
	// Skip selects objects that are applied but not waited on.
	Skip func(*unstructured.Unstructured) bool
	// Apply is how its objects are applied (e.g. retrying an admission webhook that is starting).
	Apply kube.ApplyOptions
	// Provides lists what the component offers once it is ready.
	Provides []Capability
	// Needs lists what it waits for, and which of its objects wait with it.
	Needs []Need
	// WebhookCert, when set, is an admission webhook whose certificate kindstack makes.
	WebhookCert *WebhookCert
	// Exposed is the Service through which its ingress is reached on a cluster without host
	// ports (one kindstack did not create); nil when it serves no ingress there.
	Exposed *Service
	// LoadFirst puts its images first into a new cluster's node: its readiness takes a while
	// after its pods start (two metrics scrapes), so they should start as early as they can.
	LoadFirst bool

	// Options are its own settings; nil means it has none.
	Options *Options
	// Optional components are installed unless switched off (`--no-<name>`, `<name>: false`).
	Optional bool
	// OptIn components are installed only when switched on (`--<name>`, `<name>: true`, or a
	// section of their options).
	OptIn bool
	// Beside are containers it runs next to a kind cluster's nodes, on their network (a local
	// registry), for these params; nil means none. They are not the cluster's: they outlive it.
	Beside func(Params) []Container
	// Alternative makes it one of several components providing a capability, of which the user
	// picks one (`--<capability> <value>`, `<capability>: <value>`).
	Alternative *Alternative
	// Smoke are requests through the ingress that prove it works end to end, once it is ready.
	Smoke []Request
	// URLs are the paths it serves through the ingress that the user is told to open.
	URLs []string
	// Cluster is what it asks of a cluster kindstack creates.
	Cluster ClusterNeeds
	// Tested is the range of Kubernetes versions it is tested on; zero means any.
	Tested KubernetesRange
	// Unpinned are the images its manifests name by tag instead of digest, each with the reason.
	Unpinned map[string]string
}

// Container is a container a component runs beside a kind cluster's nodes, on kind's network,
// where the nodes reach it by its name. Its storage is a named volume: the user's data, kept when
// the cluster goes (`down`, `recreate`) and removed only by `kindstack <component> rm`.
type Container struct {
	// Name is the container's name, also the host name the nodes reach it by.
	Name string
	// Image is the image it runs, after the images map (see Params.Images).
	Image string
	// Env are its environment variables; it runs the image's own command.
	Env map[string]string
	// Port is the TCP port it serves on inside, published on the host at ListenAddress:HostPort.
	Port          int
	ListenAddress string
	HostPort      int
	// Volume is the named volume mounted at VolumePath.
	Volume, VolumePath string
	// Registry, when set, is the registry name (localhost:5001) every node pulls from this
	// container over plain HTTP (containerd's hosts.toml).
	Registry string
	// Describe says what it is in progress lines and status, e.g. "registry".
	Describe string
	// PortFlag is the flag that sets HostPort, for messages, e.g. "--registry-port".
	PortFlag string
}

// Service names the Service a component is reached through, and its HTTP port (a name or a number).
type Service struct {
	Namespace, Name, Port string
}

// Alternative is one choice for a capability several components provide.
type Alternative struct {
	// Capability is what the alternatives provide; its name is the flag and the config field.
	Capability Capability
	// Value is what the user writes to pick this component, e.g. "traefik".
	Value string
	// Default marks the choice made when the user makes none.
	Default bool
	// Usage says what picking it means, for help texts.
	Usage string
}

// ClusterNeeds is what a component asks of a cluster kindstack creates.
type ClusterNeeds struct {
	// ControllerManagerArgs are kube-controller-manager flags, e.g. a shorter HPA sync period.
	ControllerManagerArgs map[string]string
}

// KubernetesRange is the range of Kubernetes minor versions (1.x) a component is tested on.
type KubernetesRange struct {
	// MaxMinor is the newest tested minor version; 0 means no limit.
	MaxMinor int
	// Advice says what to do on a newer version.
	Advice string
}

// Untested says why minor (Kubernetes 1.minor) is outside the component's tested range, or "".
func (c Component) Untested(minor int) string {
	if c.Tested.MaxMinor == 0 || minor <= c.Tested.MaxMinor {
		return ""
	}
	msg := fmt.Sprintf("%s is tested up to Kubernetes 1.%d, not on 1.%d", c.Name, c.Tested.MaxMinor, minor)
	if c.Tested.Advice != "" {
		msg += ": " + c.Tested.Advice
	}
	return msg
}

// Request is one request through the ingress and what its answer must be.
type Request struct {
	// Path is requested with GET, e.g. "/api/healthy".
	Path string
	// Proves says what a passing answer shows, e.g. "ingress -> backend".
	Proves string
	// Status is the HTTP status the answer must have; 0 means 200.
	Status int
	// Check says what is wrong with the body of an answer of that status, or "" when it is right.
	Check func(body []byte) string
}

// WebhookCert is an admission webhook whose serving certificate kindstack makes and keeps (package
// webhookcert) instead of upstream's certificate Jobs. The component's manifests hold the Secret
// without data and the webhook configuration without caBundle; Fill completes them.
type WebhookCert struct {
	Namespace, Secret string
	// Webhook is the ValidatingWebhookConfiguration whose webhooks get the CA as caBundle.
	Webhook string
	// Hosts are the DNS names the API server calls the webhook's Service by.
	Hosts []string
}

// Fill returns objs with the Secret's data and every webhook's caBundle set from data (the keys of
// package webhookcert); the objects themselves are not changed. Both objects must be in objs.
func (w WebhookCert) Fill(objs []*unstructured.Unstructured, data map[string][]byte) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	var secret, webhook bool
	for i, o := range objs {
		out[i] = o
		switch {
		case o.GetKind() == "Secret" && o.GetNamespace() == w.Namespace && o.GetName() == w.Secret:
			c := o.DeepCopy()
			enc := map[string]any{}
			for k, v := range data {
				enc[k] = base64.StdEncoding.EncodeToString(v)
			}
			if err := unstructured.SetNestedField(c.Object, enc, "data"); err != nil {
				return nil, fmt.Errorf("secret %s/%s: %w", w.Namespace, w.Secret, err)
			}
			out[i], secret = c, true
		case o.GetKind() == "ValidatingWebhookConfiguration" && o.GetName() == w.Webhook:
			c := o.DeepCopy()
			hooks, _, err := unstructured.NestedSlice(c.Object, "webhooks")
			if err != nil || len(hooks) == 0 {
				return nil, fmt.Errorf("ValidatingWebhookConfiguration %s has no webhooks", w.Webhook)
			}
			for _, h := range hooks {
				m, ok := h.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("ValidatingWebhookConfiguration %s: a webhook is not an object", w.Webhook)
				}
				if err := unstructured.SetNestedField(m, base64.StdEncoding.EncodeToString(data[webhookcert.CAKey]), "clientConfig", "caBundle"); err != nil {
					return nil, fmt.Errorf("ValidatingWebhookConfiguration %s: %w", w.Webhook, err)
				}
			}
			if err := unstructured.SetNestedSlice(c.Object, hooks, "webhooks"); err != nil {
				return nil, fmt.Errorf("ValidatingWebhookConfiguration %s: %w", w.Webhook, err)
			}
			out[i], webhook = c, true
		}
	}
	if !secret || !webhook {
		return nil, fmt.Errorf("webhook certificate: the manifests lack Secret %s/%s or ValidatingWebhookConfiguration %s", w.Namespace, w.Secret, w.Webhook)
	}
	return out, nil
}

// Build decodes the component's manifests, applies its transforms and labels every object as
// kindstack's, for this component. The set's objects come in manifest order.
func (c Component) Build(p Params) (kube.Set, error) {
	if p.Options == nil && c.Options != nil {
		p.Options = c.Options.New()
	}
	files := c.Files
	if files == nil {
		files = embed.FS()
	}
	var objs []*unstructured.Unstructured
	for _, r := range c.Remote {
		if p.Fetch == nil {
			continue
		}
		data, err := p.Fetch(r)
		if err != nil {
			return kube.Set{}, fmt.Errorf("%s: %w", c.Name, err)
		}
		decoded, err := kube.Decode(r.Name, data)
		if err != nil {
			return kube.Set{}, fmt.Errorf("%s: %w", c.Name, err)
		}
		if imgs, err := transform.ContainerImages(decoded); err != nil || len(imgs) > 0 {
			return kube.Set{}, fmt.Errorf("%s: remote manifest %s runs containers (%v); only embedded manifests may", c.Name, r.Name, imgs)
		}
		objs = append(objs, decoded...)
	}
	if c.Source != nil {
		made, err := c.Source(p)
		if err != nil {
			return kube.Set{}, err
		}
		objs = append(objs, made...)
	}
	var names []string
	if c.Manifests != nil {
		names = c.Manifests(p)
	}
	for _, name := range names {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return kube.Set{}, fmt.Errorf("%s: read manifest %s: %w", c.Name, name, err)
		}
		decoded, err := kube.Decode(name, data)
		if err != nil {
			return kube.Set{}, fmt.Errorf("%s: %w", c.Name, err)
		}
		objs = append(objs, decoded...)
	}
	var fns []transform.Func
	if c.Transforms != nil {
		fns = c.Transforms(p)
	}
	fns = append(fns, transform.Labels(map[string]string{kube.ManagedByLabel: kube.ManagedBy, kube.ComponentLabel: c.Name}))
	if err := transform.Apply(objs, fns...); err != nil {
		return kube.Set{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	var gates []kube.Gate
	if c.Gates != nil {
		gates = c.Gates(p)
	}
	return kube.Set{Name: c.Name, Objects: objs, Skip: c.Skip, Gates: gates}, nil
}

// Images returns every image the component runs with p, sorted. Remote manifests run none, so
// they are not fetched for this.
func (c Component) Images(p Params) ([]string, error) {
	p.Fetch = nil
	set, err := c.Build(p)
	if err != nil {
		return nil, err
	}
	images, err := transform.ContainerImages(set.Objects)
	if err != nil {
		return nil, err
	}
	for _, b := range c.Containers(p) {
		if !slices.Contains(images, b.Image) {
			images = append(images, b.Image)
		}
	}
	slices.Sort(images)
	return images, nil
}

// Containers are the containers it runs beside the nodes with p (Beside), none when it has none.
func (c Component) Containers(p Params) []Container {
	if c.Beside == nil {
		return nil
	}
	if p.Options == nil && c.Options != nil {
		p.Options = c.Options.New()
	}
	return c.Beside(p)
}

// Files is Manifests for a component whose files do not depend on the params.
func Files(names ...string) func(Params) []string {
	return func(Params) []string { return names }
}

// Gates is Gates for a component whose checks do not depend on the params.
func Gates(gates ...kube.Gate) func(Params) []kube.Gate {
	return func(Params) []kube.Gate { return gates }
}

// Deferred reports whether obj waits for one of the component's needs, and for which.
func (c Component) Deferred(obj *unstructured.Unstructured) (Capability, bool) {
	for _, n := range c.Needs {
		if !n.AtOnce && n.Objects != nil && n.Objects(obj) {
			return n.Capability, true
		}
	}
	return "", false
}

// Check verifies that a list of components can be installed together: names are unique, every
// need is provided by another component of the list or given (the cluster has it of its own), and
// no needs form a cycle.
func Check(comps []Component, given ...Capability) error {
	providers := map[Capability]string{}
	for _, g := range given {
		providers[g] = ""
	}
	var errs []error
	seen := map[string]bool{}
	for _, c := range comps {
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("component %q is listed twice", c.Name))
		}
		seen[c.Name] = true
		for _, p := range c.Provides {
			if other, dup := providers[p]; dup && other != "" {
				errs = append(errs, fmt.Errorf("components %q and %q both provide %s", other, c.Name, p))
			}
			providers[p] = c.Name
		}
	}
	for _, c := range comps {
		for _, n := range c.Needs {
			provider, ok := providers[n.Capability]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s needs %s, which no installed component provides", c.Name, n.Capability))
			case provider == c.Name:
				errs = append(errs, fmt.Errorf("%s needs %s, which it provides itself", c.Name, n.Capability))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return checkCycles(comps, providers)
}

// checkCycles walks the needs graph depth first; a component met again on the current path closes a cycle.
func checkCycles(comps []Component, providers map[Capability]string) error {
	byName := map[string]Component{}
	for _, c := range comps {
		byName[c.Name] = c
	}
	done := map[string]bool{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		if i := slices.Index(path, name); i >= 0 {
			return fmt.Errorf("components wait for each other: %v", append(path[i:], name))
		}
		if done[name] {
			return nil
		}
		for _, n := range byName[name].Needs {
			if err := visit(providers[n.Capability], append(path, name)); err != nil {
				return err
			}
		}
		done[name] = true
		return nil
	}
	for _, c := range comps {
		if err := visit(c.Name, nil); err != nil {
			return err
		}
	}
	return nil
}
