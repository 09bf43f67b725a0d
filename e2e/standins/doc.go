// Package standins holds stand-ins, written by the kindstack project, for container images that
// cannot be built on an air-gapped test machine: the ingress-nginx controller and its certgen Jobs,
// the example app's backend and frontend, and (as an image recipe under images/postgres) a real
// PostgreSQL from Debian. Each stand-in honours the contract kindstack relies on and is wired into
// a cluster only through kindstack's public `images:` override map.
package standins
