package workloads

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SmokeOptions configure Smoke.
type SmokeOptions struct {
	// BaseURL is where the ingress answers on the host, e.g. http://127.0.0.1:80.
	BaseURL string
	// Client sends the requests. Nil means a client with a 30s timeout per request.
	Client *http.Client
	// Interval is the pause between attempts. Zero means 2s.
	Interval time.Duration
	// Infof, if set, receives one line per failed attempt (for verbose output).
	Infof func(format string, args ...any)
}

// Smoke checks the example app end to end through the ingress, as a browser would, without
// changing anything a user put in it:
//
//	GET /api/healthy  200 {"healthy":true}       ingress -> backend
//	GET /api/fetch    200 {"texts":[...]}        backend -> postgres (a read of the app's table)
//	GET /             200, the React page        ingress -> frontend
//
// The app cannot delete one row, so the smoke test writes none: every `up` leaves the table as the
// user left it. Failures right after an install are normal (503 while endpoints fill, 404 until
// the Ingress is synced), so Smoke repeats the whole round until it passes or ctx ends. The error
// then names the request that failed last, its status and an excerpt of the body.
func Smoke(ctx context.Context, opts SmokeOptions) error {
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
	r := smokeRun{client: client, base: base.String()}

	var last error
	for attempt := 1; ; attempt++ {
		err := r.once(ctx)
		if err == nil {
			return nil
		}
		// A request cut short by the deadline says less than the failure before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if opts.Infof != nil {
			opts.Infof("smoke attempt %d: %v", attempt, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("smoke test through %s: gave up after %d attempts (%w): %w", r.base, attempt, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

type smokeRun struct {
	client *http.Client
	base   string
}

func (r smokeRun) once(ctx context.Context) error {
	res, err := r.get(ctx, "/api/healthy")
	if err != nil {
		return err
	}
	var health struct {
		Healthy bool `json:"healthy"`
	}
	if json.Unmarshal(res.body, &health) != nil || !health.Healthy {
		return res.fail(`want {"healthy":true}`)
	}

	res, err = r.get(ctx, "/api/fetch")
	if err != nil {
		return err
	}
	var fetched struct {
		Texts *[]struct {
			Text string `json:"text"`
		} `json:"texts"`
	}
	if json.Unmarshal(res.body, &fetched) != nil || fetched.Texts == nil {
		return res.fail(`want JSON {"texts":[...]} (the backend read the database)`)
	}

	res, err = r.get(ctx, "/")
	if err != nil {
		return err
	}
	if !bytes.Contains(res.body, []byte(`<div id="root">`)) {
		return res.fail(`want the React app's page (<div id="root">)`)
	}
	return nil
}

// response is one answer, kept for error messages.
type response struct {
	method, path string
	status       string
	body         []byte
}

func (res response) fail(problem string) error {
	return &requestError{method: res.method, path: res.path, problem: fmt.Sprintf("%s, %s", res.status, problem), body: res.body}
}

// get sends one GET and wants 200.
func (r smokeRun) get(ctx context.Context, path string) (response, error) {
	res := response{method: http.MethodGet, path: path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return res, &requestError{method: res.method, path: path, problem: err.Error()}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in the message
		}
		return res, &requestError{method: res.method, path: path, problem: err.Error()}
	}
	defer resp.Body.Close()
	res.status = resp.Status
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, &requestError{method: res.method, path: path, problem: fmt.Sprintf("%s, reading the body: %v", resp.Status, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return res, &requestError{method: res.method, path: path,
			problem: fmt.Sprintf("got %s, want 200", resp.Status), body: res.body}
	}
	return res, nil
}

// requestError says which request failed and how, with the start of the body.
type requestError struct {
	method, path, problem string
	body                  []byte
}

func (e *requestError) Error() string {
	msg := e.method + " " + e.path + ": " + e.problem
	if len(e.body) > 0 {
		msg += "; body: " + strconv.Quote(excerpt(e.body, 200))
	}
	return msg
}

// excerpt returns the start of a body on one line, at most n bytes, marked when cut.
func excerpt(body []byte, n int) string {
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
