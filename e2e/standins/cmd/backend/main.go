// Command backend is the example backend stand-in (Flask app on port 5000).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kindstack/kindstack/e2e/standins/internal/backend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "backend (kindstack stand-in):", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := backend.ConfigFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	store, err := backend.NewPostgres(ctx, cfg.DSN())
	if err != nil {
		return err
	}
	defer store.Close()
	host, ok := os.LookupEnv("HOSTNAME")
	if !ok {
		host, _ = os.Hostname()
	}
	addr := ":5000"
	if port, ok := os.LookupEnv("FLASK_RUN_PORT"); ok {
		addr = ":" + port
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           backend.NewHandler(backend.Options{Store: store, Hostname: host, Log: log}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("serving", "addr", addr, "database", cfg.Host)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
