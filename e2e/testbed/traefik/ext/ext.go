// Package ext stands in for Traefik's dynamic-configuration extension point in the test bed's
// Traefik build: Traefik v3.7.13 embeds only these two types, inline, in its HTTP configuration
// and its routers, so empty structs leave the configuration exactly as without extensions.
package ext

// HTTP is embedded in Traefik's dynamic HTTP configuration.
type HTTP struct{}

// Router is embedded in Traefik's HTTP router configuration.
type Router struct{}
