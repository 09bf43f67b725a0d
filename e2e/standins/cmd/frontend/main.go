// Command frontend is the example frontend stand-in (CRA dev server on port 3000).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kindstack/kindstack/e2e/standins/internal/frontend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "frontend (kindstack stand-in):", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	port := "3000"
	if p, ok := os.LookupEnv("PORT"); ok {
		port = p
	}
	srv := &http.Server{Addr: ":" + port, Handler: frontend.NewHandler(), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintln(os.Stderr, "frontend stand-in serving on :"+port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
