// Package ingress is a small ingress controller that stands in for ingress-nginx on machines that
// cannot pull its image. It reads ingress-nginx's command-line flags, serves HTTP on :80 and HTTPS
// on :443, routes Ingresses of its class the way ingress-nginx's generated nginx configuration does
// (Prefix/Exact semantics, and case-insensitive regex locations, longest first, when
// rewrite-target or use-regex is set), runs the validating admission webhook with ingress-nginx's
// strict path-type check, and publishes the Ingress status address.
package ingress
