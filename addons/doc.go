// Package addons holds the cluster add-ons kindstack sets up on every cluster, each a
// component.Component in a file of its own: the embedded manifests (package embed), kindstack's
// policy applied in Go (image overrides, the ingress node selector, --kubelet-insecure-tls), what
// the add-on provides to the others, and the readiness gates that say when it really works.
package addons
