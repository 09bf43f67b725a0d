package smoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/component"
)

func TestSmokeNoServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := Run(ctx, Options{BaseURL: base, Interval: 10 * time.Millisecond, Requests: []component.Request{{Path: "/api/healthy"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /api/healthy: ")
	assert.Contains(t, err.Error(), "connection refused")
}

func TestSmokeRejectsABadBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "127.0.0.1:80", "ftp://x", "http://"} {
		err := Run(context.Background(), Options{BaseURL: base})
		assert.ErrorContains(t, err, "want http://host[:port]", "base %q", base)
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"  many\n\n  lines\tand   spaces ", 100, "many lines and spaces"},
		{"0123456789abc", 10, "0123456789…"},
		{"ééééé", 3, "é…"}, // never cut inside a character
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Excerpt([]byte(tt.body), tt.n))
	}
}
