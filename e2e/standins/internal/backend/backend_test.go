package backend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memStore mimics the table's UNIQUE constraint. It is only a test double for the handlers; the
// Postgres store itself is exercised against a real database in postgres_test.go.
type memStore struct {
	mu    sync.Mutex
	texts []string
	fail  bool
}

func (m *memStore) Texts(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errors.New("connection refused")
	}
	return append([]string{}, m.texts...), nil
}

func (m *memStore) Add(_ context.Context, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(m.texts, text) {
		return errors.New(`duplicate key value violates unique constraint "text_text_key"`)
	}
	m.texts = append(m.texts, text)
	return nil
}

func (m *memStore) DeleteAll(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.texts = nil
	return nil
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header().Get("Content-Type")
}

func TestHandlerSmokeSequence(t *testing.T) {
	t.Parallel()
	store := &memStore{}
	h := NewHandler(Options{Store: store, Hostname: "backend-5d9c-abcde", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	steps := []struct {
		method, path, contentType, body string
		wantCode                        int
		wantBody, wantType              string
	}{
		{http.MethodGet, "/healthy", "", "", 200, "{\"healthy\":true}\n", "application/json"},
		{http.MethodGet, "/host_name", "", "", 200, "{\"host_name\":\"backend-5d9c-abcde\"}\n", "application/json"},
		{http.MethodDelete, "/delete", "", "", 200, "Done", "text/html; charset=utf-8"},
		{http.MethodGet, "/fetch", "", "", 200, "{\"texts\":[]}\n", "application/json"},
		{http.MethodPost, "/add", "application/json", `{"text":"smoke-1"}`, 201, "Done", "text/html; charset=utf-8"},
		{http.MethodPost, "/add", "application/json; charset=utf-8", `{"text":"smoke-2"}`, 201, "Done", "text/html; charset=utf-8"},
		{http.MethodPost, "/add", "application/json", `{"text":"smoke-1"}`, 500, "Internal Server Error", "text/html; charset=utf-8"},
		{http.MethodGet, "/fetch", "", "", 200, "{\"texts\":[{\"text\":\"smoke-1\"},{\"text\":\"smoke-2\"}]}\n", "application/json"},
		{http.MethodPost, "/add", "text/plain", `{"text":"x"}`, 415, "Unsupported Media Type", "text/html; charset=utf-8"},
		{http.MethodPost, "/add", "application/json", `{"text":`, 400, "Bad Request", "text/html; charset=utf-8"},
		{http.MethodPost, "/add", "application/json", `{"other":"x"}`, 500, "Internal Server Error", "text/html; charset=utf-8"},
		{http.MethodGet, "/add", "", "", 405, "Method Not Allowed", "text/html; charset=utf-8"},
		{http.MethodGet, "/", "", "", 404, "Not Found", "text/html; charset=utf-8"},
		{http.MethodDelete, "/delete", "", "", 200, "Done", "text/html; charset=utf-8"},
		{http.MethodGet, "/fetch", "", "", 200, "{\"texts\":[]}\n", "application/json"},
	}
	for i, s := range steps {
		code, body, ct := do(t, h, s.method, s.path, s.contentType, s.body)
		assert.Equal(t, s.wantCode, code, "step %d %s %s", i, s.method, s.path)
		assert.Contains(t, body, s.wantBody, "step %d %s %s", i, s.method, s.path)
		assert.Equal(t, s.wantType, ct, "step %d %s %s", i, s.method, s.path)
	}
}

func TestHandlerDatabaseDown(t *testing.T) {
	t.Parallel()
	h := NewHandler(Options{Store: &memStore{fail: true}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	code, _, _ := do(t, h, http.MethodGet, "/fetch", "", "")
	assert.Equal(t, http.StatusInternalServerError, code)
	code, body, _ := do(t, h, http.MethodGet, "/healthy", "", "")
	assert.Equal(t, http.StatusOK, code, "/healthy does not touch the database")
	assert.Equal(t, "{\"healthy\":true}\n", body)
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URI": "pg-service", "DATABASE_USERNAME": "postgres", "DATABASE_PASSWORD": "p@ss/word"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := ConfigFromEnv(lookup)
	require.NoError(t, err)
	assert.Equal(t, "postgresql://postgres:p%40ss%2Fword@pg-service/postgres?connect_timeout=5&sslmode=prefer", c.DSN())

	delete(env, "DATABASE_USERNAME")
	delete(env, "DATABASE_PASSWORD")
	_, err = ConfigFromEnv(lookup)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_USERNAME is not set")
	assert.Contains(t, err.Error(), "DATABASE_PASSWORD is not set")
}
