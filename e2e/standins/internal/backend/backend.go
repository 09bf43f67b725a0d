// Package backend stands in for the example app's Flask backend (lyzhang1999/backend): the same
// routes, status codes and JSON shapes on port 5000, against the real PostgreSQL table `text`
// created by the example's init script.
package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
)

// Store is the database the routes use.
type Store interface {
	// Texts returns every row's text, oldest first.
	Texts(ctx context.Context) ([]string, error)
	// Add inserts one row; a duplicate text is an error (the column is UNIQUE).
	Add(ctx context.Context, text string) error
	// DeleteAll deletes every row.
	DeleteAll(ctx context.Context) error
}

// Config is what the Flask app reads from its environment at import time.
type Config struct {
	Host     string // DATABASE_URI: host[:port] of PostgreSQL
	User     string // DATABASE_USERNAME
	Password string // DATABASE_PASSWORD
}

// ConfigFromEnv reads the three variables; like the real app it refuses to start when one is
// missing (there it is a TypeError at import).
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	var missing []error
	for _, v := range []struct {
		name string
		dst  *string
	}{{"DATABASE_URI", &c.Host}, {"DATABASE_USERNAME", &c.User}, {"DATABASE_PASSWORD", &c.Password}} {
		val, ok := lookup(v.name)
		if !ok {
			missing = append(missing, fmt.Errorf("environment variable %s is not set", v.name))
			continue
		}
		*v.dst = val
	}
	return c, errors.Join(missing...)
}

// DSN is the app's SQLAlchemy URI: postgresql://USER:PASSWORD@HOST/postgres.
func (c Config) DSN() string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(c.User, c.Password), Host: c.Host, Path: "/postgres"}
	q := url.Values{"connect_timeout": {"5"}, "sslmode": {"prefer"}}
	u.RawQuery = q.Encode()
	return u.String()
}

// Options configure the handler.
type Options struct {
	Store    Store
	Hostname string // the pod name, as $HOSTNAME
	Log      *slog.Logger
}

// NewHandler returns the app's routes. Unknown paths and wrong methods get Flask's 404 and 405 pages.
func NewHandler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { flaskError(w, http.StatusNotFound) })
	route := func(path, method string, h http.HandlerFunc) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
				w.Header().Set("Allow", method+", OPTIONS")
				flaskError(w, http.StatusMethodNotAllowed)
				return
			}
			h(w, r)
		})
	}
	route("/healthy", http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"healthy": true})
	})
	route("/host_name", http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"host_name": o.Hostname})
	})
	route("/ab", http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		// The real route runs ApacheBench against itself for the HPA demo; the stand-in answers
		// the same way without generating load.
		writeJSON(w, http.StatusOK, map[string]bool{"ab": true})
	})
	route("/fetch", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		texts, err := o.Store.Texts(r.Context())
		if err != nil {
			o.Log.Error("fetch", "err", err)
			flaskError(w, http.StatusInternalServerError)
			return
		}
		type item struct {
			Text string `json:"text"`
		}
		items := make([]item, 0, len(texts))
		for _, t := range texts {
			items = append(items, item{Text: t})
		}
		writeJSON(w, http.StatusOK, map[string][]item{"texts": items})
	})
	route("/add", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		text, status := parseAdd(r)
		if status != 0 {
			flaskError(w, status)
			return
		}
		if err := o.Store.Add(r.Context(), text); err != nil {
			o.Log.Error("add", "err", err)
			flaskError(w, http.StatusInternalServerError)
			return
		}
		writeText(w, http.StatusCreated, "Done")
	})
	route("/delete", http.MethodDelete, func(w http.ResponseWriter, r *http.Request) {
		if err := o.Store.DeleteAll(r.Context()); err != nil {
			o.Log.Error("delete", "err", err)
			flaskError(w, http.StatusInternalServerError)
			return
		}
		writeText(w, http.StatusOK, "Done")
	})
	return mux
}

// parseAdd reads request.json['text'] the way Flask does: a non-JSON content type is 415, a body
// that is not JSON is 400, and a missing or non-string "text" fails inside the view (500).
func parseAdd(r *http.Request) (string, int) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && !(len(mt) > 5 && mt[len(mt)-5:] == "+json") {
		return "", http.StatusUnsupportedMediaType
	}
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&body); err != nil {
		return "", http.StatusBadRequest
	}
	text, ok := body["text"].(string)
	if !ok {
		return "", http.StatusInternalServerError
	}
	return text, 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		flaskError(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

// flaskError writes Werkzeug's default error page.
func flaskError(w http.ResponseWriter, status int) {
	desc := map[int]string{
		http.StatusNotFound:             "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
		http.StatusMethodNotAllowed:     "The method is not allowed for the requested URL.",
		http.StatusBadRequest:           "The browser (or proxy) sent a request that this server could not understand.",
		http.StatusUnsupportedMediaType: "Did not attempt to load JSON data because the request Content-Type was not &#39;application/json&#39;.",
		http.StatusInternalServerError:  "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.",
	}[status]
	text := http.StatusText(status)
	writeText(w, status, fmt.Sprintf("<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n", status, text, text, desc))
}
