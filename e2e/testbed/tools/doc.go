// Package tools is the test bed's nested Go module: small programs (the crictl shim, the kind
// cluster check) built into the test bed cache, kept out of the main module's dependencies.
package tools
