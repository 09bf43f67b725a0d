package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoEndpoints means the backend Service has no ready endpoint (or does not exist): nginx
// answers 503 then.
var ErrNoEndpoints = errors.New("no ready endpoints")

// Resolver finds the ready endpoints ("ip:port") of a backend.
type Resolver interface {
	Endpoints(b Backend) ([]string, error)
}

// Proxy is the HTTP(S) front end: it routes with the current Table and forwards to one ready
// endpoint of the backend, round robin, like ingress-nginx's default load balancing.
type Proxy struct {
	table    atomic.Pointer[Table]
	resolver Resolver
	log      *slog.Logger
	rp       *httputil.ReverseProxy
	mu       sync.Mutex
	next     map[string]int
}

type routeKey struct{}

type routed struct {
	route    Route
	endpoint string
	scheme   string
}

// NewProxy returns a Proxy with an empty table (everything 404 until SetTable).
func NewProxy(resolver Resolver, log *slog.Logger) *Proxy {
	p := &Proxy{resolver: resolver, log: log, next: map[string]int{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(routeKey{}).(routed)
			pr.Out.URL = &url.URL{Scheme: "http", Host: rt.endpoint, Path: rt.route.Path, RawQuery: rt.route.Query}
			// nginx passes the client's Host header on, and the X-Forwarded-* set.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Proto", rt.scheme)
			pr.Out.Header.Set("X-Scheme", rt.scheme)
			pr.Out.Header.Set("X-Original-URI", pr.In.URL.RequestURI())
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				pr.Out.Header.Set("X-Real-IP", ip)
			}
		},
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			ResponseHeaderTimeout: 60 * time.Second,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       60 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rt, _ := r.Context().Value(routeKey{}).(routed)
			log.Warn("upstream error", "backend", rt.route.Backend.String(), "endpoint", rt.endpoint, "err", err)
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			nginxError(w, status)
		},
	}
	return p
}

// SetTable replaces the routing table.
func (p *Proxy) SetTable(t *Table) { p.table.Store(t) }

// ServeHTTP routes one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route, ok := p.table.Load().Route(r.Host, r.URL.Path, r.URL.RawQuery)
	if !ok {
		nginxError(w, http.StatusNotFound)
		return
	}
	endpoints, err := p.resolver.Endpoints(route.Backend)
	if err != nil || len(endpoints) == 0 {
		p.log.Info("no endpoints", "backend", route.Backend.String(), "ingress", route.Ingress, "err", err)
		nginxError(w, http.StatusServiceUnavailable)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rt := routed{route: route, endpoint: p.pick(route.Backend, endpoints), scheme: scheme}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
}

func (p *Proxy) pick(b Backend, endpoints []string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := b.String()
	i := p.next[key] % len(endpoints)
	p.next[key] = i + 1
	return endpoints[i]
}

// nginxError writes the page nginx writes for status.
func nginxError(w http.ResponseWriter, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if status == http.StatusServiceUnavailable {
		text = "503 Service Temporarily Unavailable"
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
}
