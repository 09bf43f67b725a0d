// Stand-in for Traefik's nested module github.com/traefik/traefik/dynamic/ext, which the
// github.com/traefik/traefik/v3 module zip does not contain (Traefik replaces it with a local
// directory). The wrapper module replaces it with this directory; see ../go.mod.
module github.com/traefik/traefik/dynamic/ext

go 1.26.0
