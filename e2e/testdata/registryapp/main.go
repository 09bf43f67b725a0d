// Command registryapp is the e2e tier's own app (e2e/registry_test.go): the smallest web server a
// developer would push to kindstack's local registry. It answers every request with its version,
// stamped at build time (-ldflags "-X main.version=v2"), so a test sees which build runs.
package main

import (
	"fmt"
	"log"
	"net/http"
)

var version = "dev"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "registryapp %s\n", version)
	})
	log.Printf("registryapp %s listening on :8080", version)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
