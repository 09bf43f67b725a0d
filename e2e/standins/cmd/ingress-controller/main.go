// Command ingress-controller is the ingress-nginx controller stand-in. The image installs it as
// /nginx-ingress-controller (the manifest's args start with that path) and as /wait-shutdown (the
// preStop hook), where it exits at once.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kindstack/kindstack/e2e/standins/internal/ingress"
	"github.com/kindstack/kindstack/e2e/standins/internal/kubeclient"
)

func main() {
	if filepath.Base(os.Args[0]) == "wait-shutdown" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nginx-ingress-controller (kindstack stand-in):", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	// With an image ENTRYPOINT the manifest's first arg is the controller path itself.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && filepath.Base(args[0]) == "nginx-ingress-controller" {
		args = args[1:]
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := ingress.ParseArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	log.Info("starting ingress-nginx stand-in", "controllerClass", opts.ControllerClass, "ingressClass", opts.IngressClass,
		"configmap", opts.ConfigMap, "webhook", opts.ValidatingWebhook, "publishStatusAddress", opts.PublishStatusAddress)
	client, err := kubeclient.New(opts.Kubeconfig, "ingress-nginx-standin")
	if err != nil {
		return err
	}
	return ingress.New(client, opts, log).Run(ctx)
}
