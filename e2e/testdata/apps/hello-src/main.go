// Command hello is the e2e tests' own app, built into an image by the test as a developer builds
// theirs, loaded with `kindstack load` and installed as an app: every GET answers with $MESSAGE
// and the version it was built as (-ldflags -X main.version=...: a change of the source).
package main

import (
	"log"
	"net/http"
	"os"
	"time"
)

var version = "dev"

func main() {
	message := os.Getenv("MESSAGE")
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(message + " (" + version + ")\n"))
	})
	srv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
