// Package smoke proves components work end to end, as a browser would: it sends each component's
// smoke requests (component.Request) through the ingress and checks their answers, repeating the
// whole round until it passes or the context ends. Failures right after an install are normal
// (503 while endpoints fill, 404 until a route is synced); the error then names the request that
// failed last, its status and an excerpt of the body.
package smoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kindstack/kindstack/internal/component"
)

// Options configure Run.
type Options struct {
	// BaseURL is where the ingress answers on this machine, e.g. http://127.0.0.1:80.
	BaseURL string
	// Requests are sent in order, each wanting its status (200 unless it says) and a body its Check accepts.
	Requests []component.Request
	// Client sends the requests. Nil means a client with a 30s timeout per request.
	Client *http.Client
	// Interval is the pause between rounds. Zero means 2s.
	Interval time.Duration
	// Infof, if set, receives one line per failed round (for verbose output).
	Infof func(format string, args ...any)
}

// Run sends every request through the ingress until a whole round passes or ctx ends.
func Run(ctx context.Context, opts Options) error {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("smoke test: base URL %q: want http://host[:port]", opts.BaseURL)
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	r := round{client: client, base: base.String(), requests: opts.Requests}
	var last error
	attempt := 0
	err = wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		attempt++
		err := r.once(ctx)
		if err == nil {
			return true, nil
		}
		// A request cut short by the deadline says less than the failure before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if opts.Infof != nil {
			opts.Infof("smoke attempt %d: %v", attempt, err)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("smoke test through %s: gave up after %d attempts (%w): %w", r.base, attempt, context.Cause(ctx), last)
	}
	return nil
}

type round struct {
	client   *http.Client
	base     string
	requests []component.Request
}

func (r round) once(ctx context.Context) error {
	for _, req := range r.requests {
		body, status, err := r.get(ctx, req.Path, req.Status)
		if err != nil {
			return err
		}
		if req.Check == nil {
			continue
		}
		if problem := req.Check(body); problem != "" {
			return &requestError{method: http.MethodGet, path: req.Path, problem: status + ", " + problem, body: body}
		}
	}
	return nil
}

// get sends one GET and wants the status (0 = 200); it returns the body and the status line.
func (r round) get(ctx context.Context, path string, want int) ([]byte, string, error) {
	if want == 0 {
		want = http.StatusOK
	}
	fail := func(problem string, body []byte) error {
		return &requestError{method: http.MethodGet, path: path, problem: problem, body: body}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, "", fail(err.Error(), nil)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in the message
		}
		return nil, "", fail(err.Error(), nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fail(fmt.Sprintf("%s, reading the body: %v", resp.Status, err), nil)
	}
	if resp.StatusCode != want {
		return nil, "", fail(fmt.Sprintf("got %s, want %d", resp.Status, want), body)
	}
	return body, resp.Status, nil
}

// requestError says which request failed and how, with the start of the body.
type requestError struct {
	method, path, problem string
	body                  []byte
}

func (e *requestError) Error() string {
	msg := e.method + " " + e.path + ": " + e.problem
	if len(e.body) > 0 {
		msg += "; body: " + strconv.Quote(Excerpt(e.body, 200))
	}
	return msg
}

// Excerpt returns the start of a body on one line, at most n bytes, marked when cut.
func Excerpt(body []byte, n int) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
