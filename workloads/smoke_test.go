package workloads

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/smoke"
)

// fakeApp imitates the example app behind the ingress: the Flask routes under /api (rewritten),
// the CRA page elsewhere. Hooks can break one route.
type fakeApp struct {
	mu    sync.Mutex
	texts []string
	// override, if set for "METHOD /path", answers that request instead of the app.
	override map[string]http.HandlerFunc
	// unavailableFor answers 503 (as nginx does while endpoints are empty) to the first N requests.
	unavailableFor int
	requests       int
	writes         []string // every request that could change the app's data
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	if a.requests <= a.unavailableFor {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html><head><title>503 Service Temporarily Unavailable</title></head></html>"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.writes = append(a.writes, r.Method+" "+r.URL.Path)
	}
	if h, ok := a.override[r.Method+" "+r.URL.Path]; ok {
		h(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/healthy":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{\"healthy\":true}\n"))
	case r.Method == http.MethodDelete && r.URL.Path == "/api/delete":
		a.texts = nil
		_, _ = w.Write([]byte("Done"))
	case r.Method == http.MethodPost && r.URL.Path == "/api/add":
		// Flask's request.json needs a JSON content type.
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			http.Error(w, "Unsupported Media Type", http.StatusUnsupportedMediaType)
			return
		}
		var in struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Text == "" {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
		for _, t := range a.texts {
			if t == in.Text {
				http.Error(w, "duplicate key value violates unique constraint", http.StatusInternalServerError)
				return
			}
		}
		a.texts = append(a.texts, in.Text)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("Done"))
	case r.Method == http.MethodGet && r.URL.Path == "/api/fetch":
		out := struct {
			Texts []map[string]string `json:"texts"`
		}{Texts: []map[string]string{}}
		for _, t := range a.texts {
			out.Texts = append(out.Texts, map[string]string{"text": t})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api"):
		http.NotFound(w, r) // Flask has no such route
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><html lang="en"><head><title>React App</title></head>` +
			`<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>`))
	default:
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func smokeTest(t *testing.T, app http.Handler, budget time.Duration) ([]string, error) {
	t.Helper()
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	t.Cleanup(cancel)
	var mu sync.Mutex
	var lines []string
	err := smoke.Run(ctx, smoke.Options{
		BaseURL:  srv.URL + "/",
		Requests: Example().Smoke,
		Interval: 10 * time.Millisecond,
		Infof: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, format)
		},
	})
	return lines, err
}

func TestSmokePassesAgainstAWorkingAppAndLeavesItsDataAlone(t *testing.T) {
	t.Parallel()
	app := &fakeApp{texts: []string{"a row the user added"}}
	attempts, err := smokeTest(t, app, 5*time.Second)
	require.NoError(t, err)
	assert.Empty(t, attempts, "no failed attempt")
	assert.Empty(t, app.writes, "the smoke test only reads")
	assert.Equal(t, []string{"a row the user added"}, app.texts, "the user's rows are kept")

	empty := &fakeApp{}
	_, err = smokeTest(t, empty, 5*time.Second)
	require.NoError(t, err, "an empty table is a working app too")
	assert.Empty(t, empty.texts)
}

func TestSmokeRetriesWhileTheIngressIsNotReady(t *testing.T) {
	t.Parallel()
	app := &fakeApp{unavailableFor: 3}
	attempts, err := smokeTest(t, app, 5*time.Second)
	require.NoError(t, err)
	assert.Len(t, attempts, 3, "three 503s, then a full pass")
}

func TestSmokeFailureNamesTheRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		override map[string]http.HandlerFunc
		want     []string
	}{
		{
			name:     "backend unreachable",
			override: map[string]http.HandlerFunc{"GET /api/healthy": respond(http.StatusServiceUnavailable, "<html><title>503 Service Temporarily Unavailable</title></html>")},
			want:     []string{"GET /api/healthy: got 503 Service Unavailable, want 200", `body: "<html><title>503 Service Temporarily Unavailable</title></html>"`},
		},
		{
			name:     "healthy says false",
			override: map[string]http.HandlerFunc{"GET /api/healthy": respond(http.StatusOK, `{"healthy":false}`)},
			want:     []string{"GET /api/healthy: 200 OK", `want {"healthy":true}`},
		},
		{
			name:     "database down",
			override: map[string]http.HandlerFunc{"GET /api/fetch": respond(http.StatusInternalServerError, "Internal Server Error: could not connect to server: Connection refused")},
			want:     []string{"GET /api/fetch: got 500 Internal Server Error, want 200", "could not connect to server"},
		},
		{
			name:     "table missing",
			override: map[string]http.HandlerFunc{"GET /api/fetch": respond(http.StatusInternalServerError, `psycopg2.errors.UndefinedTable: relation "text" does not exist`)},
			want:     []string{"GET /api/fetch: got 500 Internal Server Error, want 200", `relation \"text\" does not exist`},
		},
		{
			name:     "fetch answers without the table's rows",
			override: map[string]http.HandlerFunc{"GET /api/fetch": respond(http.StatusOK, `{"healthy":true}`)},
			want:     []string{`GET /api/fetch: 200 OK, want JSON {"texts":[...]} (the backend read the database)`},
		},
		{
			name:     "fetch not JSON",
			override: map[string]http.HandlerFunc{"GET /api/fetch": respond(http.StatusOK, `<html>`)},
			want:     []string{"GET /api/fetch: 200 OK, want JSON"},
		},
		{
			name:     "frontend is the default backend",
			override: map[string]http.HandlerFunc{"GET /": respond(http.StatusNotFound, "<html><center><h1>404 Not Found</h1></center><hr><center>nginx</center></html>")},
			want:     []string{"GET /: got 404 Not Found, want 200", "404 Not Found"},
		},
		{
			name:     "frontend serves something else",
			override: map[string]http.HandlerFunc{"GET /": respond(http.StatusOK, "<html>"+strings.Repeat("x", 500)+"</html>")},
			want:     []string{`GET /: 200 OK, want the React app's page (<div id="root">)`, "xxx…"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			attempts, err := smokeTest(t, &fakeApp{override: tt.override}, 300*time.Millisecond)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "smoke test through http://127.0.0.1:")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotEmpty(t, attempts, "it retried")
		})
	}
}
