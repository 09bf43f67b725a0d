// Command certgen is the kube-webhook-certgen stand-in: `create` and `patch` as in ingress-nginx's
// admission Jobs.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kindstack/kindstack/e2e/standins/internal/certgen"
	"github.com/kindstack/kindstack/e2e/standins/internal/kubeclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kube-webhook-certgen (kindstack stand-in):", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := certgen.ParseArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	client, err := kubeclient.New(opts.Kubeconfig, "kube-webhook-certgen-standin")
	if err != nil {
		return err
	}
	return certgen.Run(ctx, client, opts, log)
}
