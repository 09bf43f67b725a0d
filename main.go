// Command kindstack turns a machine with a container runtime into a working local Kubernetes
// environment (kind cluster, ingress, metrics, example app) in one command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kindstack/kindstack/internal/cli"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C cancels the command, which cleans up; from then on a second one kills
		// it the default way.
		sig, ok := <-signals
		if !ok {
			return
		}
		signal.Stop(signals)
		fmt.Fprintf(os.Stderr, "\nkindstack: %v: cleaning up, press Ctrl-C again to force\n", sig)
		cancel()
	}()
	app := cli.New(cli.Options{Stdout: os.Stdout, Stderr: os.Stderr})
	err := app.RunContext(ctx, os.Args)
	signal.Stop(signals)
	close(signals)
	cancel()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode is the one place errors become exit codes: 0 ok, 2 usage error, 1 any other failure.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var usage *cli.UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "kindstack: %v\nRun 'kindstack --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "kindstack: %v\n", err)
	return 1
}
