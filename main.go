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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the command cleans up; a second one kills it the default way.
		<-ctx.Done()
		stop()
	}()
	app := cli.New(cli.Options{Stdout: os.Stdout, Stderr: os.Stderr})
	err := app.RunContext(ctx, os.Args)
	stop()
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
