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

// Smoke checks the example app end to end through the ingress, as a browser would:
//
//	GET    /api/healthy  200 {"healthy":true}   ingress -> backend
//	DELETE /api/delete   200                    backend -> postgres (clears the app's table)
//	POST   /api/add      201                    with a unique text
//	GET    /api/fetch    200, lists that text   the write went through
//	GET    /             200, the React page    ingress -> frontend
//
// Failures right after an install are normal (503 while endpoints fill, 404 until the Ingress is
// synced), so Smoke repeats the whole round until it passes or ctx ends. The error then names the
// request that failed last, its status and an excerpt of the body.
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
		err := r.once(ctx, "smoke-"+strconv.FormatInt(time.Now().UnixNano(), 36))
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

func (r smokeRun) once(ctx context.Context, text string) error {
	res, err := r.do(ctx, http.MethodGet, "/api/healthy", nil, http.StatusOK)
	if err != nil {
		return err
	}
	var health struct {
		Healthy bool `json:"healthy"`
	}
	if json.Unmarshal(res.body, &health) != nil || !health.Healthy {
		return res.fail(`want {"healthy":true}`)
	}

	if _, err := r.do(ctx, http.MethodDelete, "/api/delete", nil, http.StatusOK); err != nil {
		return err
	}

	payload, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	if _, err := r.do(ctx, http.MethodPost, "/api/add", payload, http.StatusCreated); err != nil {
		return err
	}

	res, err = r.do(ctx, http.MethodGet, "/api/fetch", nil, http.StatusOK)
	if err != nil {
		return err
	}
	var fetched struct {
		Texts []struct {
			Text string `json:"text"`
		} `json:"texts"`
	}
	if err := json.Unmarshal(res.body, &fetched); err != nil {
		return res.fail(`want JSON {"texts":[...]}`)
	}
	found := false
	for _, t := range fetched.Texts {
		found = found || t.Text == text
	}
	if !found {
		return res.fail(fmt.Sprintf("the text just added (%q) is not listed", text))
	}

	res, err = r.do(ctx, http.MethodGet, "/", nil, http.StatusOK)
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

// do sends one request and checks its status code.
func (r smokeRun) do(ctx context.Context, method, path string, body []byte, want int) (response, error) {
	res := response{method: method, path: path}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, reader)
	if err != nil {
		return res, &requestError{method: method, path: path, problem: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in the message
		}
		return res, &requestError{method: method, path: path, problem: err.Error()}
	}
	defer resp.Body.Close()
	res.status = resp.Status
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, &requestError{method: method, path: path, problem: fmt.Sprintf("%s, reading the body: %v", resp.Status, err)}
	}
	if resp.StatusCode != want {
		return res, &requestError{method: method, path: path,
			problem: fmt.Sprintf("got %s, want %d", resp.Status, want), body: res.body}
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
