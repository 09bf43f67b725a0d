package frontend

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEveryPathServesIndex(t *testing.T) {
	t.Parallel()
	h := NewHandler()
	for _, path := range []string{"/", "/index.html", "/some/client/route", "/api"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
			body := rec.Body.String()
			assert.Contains(t, body, "<title>React App</title>")
			assert.Contains(t, body, `<div id="root"></div>`)
			assert.Contains(t, body, "<noscript>You need to enable JavaScript to run this app.</noscript>")
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code, "the dev server has no POST routes")
}
