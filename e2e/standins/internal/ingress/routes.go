package ingress

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// Annotations ingress-nginx reads that change routing.
const (
	AnnotationRewriteTarget = "nginx.ingress.kubernetes.io/rewrite-target"
	AnnotationUseRegex      = "nginx.ingress.kubernetes.io/use-regex"
)

// Backend is the Service port an Ingress path sends traffic to.
type Backend struct {
	Namespace string
	Service   string
	// Port is the Service port, by number or by name.
	Port networkingv1.ServiceBackendPort
}

// String names the backend the way logs and errors show it.
func (b Backend) String() string {
	port := b.Port.Name
	if port == "" {
		port = strconv.Itoa(int(b.Port.Number))
	}
	return b.Namespace + "/" + b.Service + ":" + port
}

// Route is where one request goes.
type Route struct {
	Backend Backend
	// Path is the request path to send upstream (after rewrite-target).
	Path string
	// Query is the query string to send upstream.
	Query string
	// Ingress is namespace/name of the Ingress that owns the matched path.
	Ingress string
}

type location struct {
	path     string
	pathType networkingv1.PathType
	match    *regexp.Regexp // set in regex mode: `(?i)^<path>`
	rewrite  *regexp.Regexp // set with rewrite-target: `(?i)<path>`
	target   string
	useRegex bool
	backend  Backend
	ingress  string
}

type server struct {
	regex     bool
	locations []location
}

// Table routes requests for a set of Ingresses. Build it with BuildTable; it is immutable.
type Table struct {
	exact     map[string]*server
	wildcards map[string]*server // "*.example.com" keyed by "example.com"
	catchAll  *server
}

// BuildTable turns the Ingresses this controller handles into a routing table. Ingresses are
// taken oldest first, so the first one to claim a host+path keeps it, as in ingress-nginx. Paths
// that cannot be routed (a regex Go cannot compile, a backend without a service) are skipped and
// reported in the returned errors.
func BuildTable(ingresses []*networkingv1.Ingress) (*Table, []error) {
	sorted := append([]*networkingv1.Ingress(nil), ingresses...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ti, tj := sorted[i].CreationTimestamp, sorted[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return sorted[i].Namespace+"/"+sorted[i].Name < sorted[j].Namespace+"/"+sorted[j].Name
	})

	t := &Table{exact: map[string]*server{}, wildcards: map[string]*server{}, catchAll: &server{}}
	var errs []error
	seen := map[*server]map[string]bool{}
	for _, ing := range sorted {
		name := ing.Namespace + "/" + ing.Name
		target := ing.Annotations[AnnotationRewriteTarget]
		useRegex := target != "" || strings.EqualFold(ing.Annotations[AnnotationUseRegex], "true")
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			srv := t.serverFor(rule.Host)
			if seen[srv] == nil {
				seen[srv] = map[string]bool{}
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					errs = append(errs, fmt.Errorf("ingress %s: path %q has no service backend", name, p.Path))
					continue
				}
				pathType := networkingv1.PathTypeImplementationSpecific
				if p.PathType != nil {
					pathType = *p.PathType
				}
				path := p.Path
				if path == "" {
					path = "/"
				}
				key := string(pathType) + " " + path
				if seen[srv][key] {
					continue
				}
				seen[srv][key] = true
				loc := location{
					path:     path,
					pathType: pathType,
					target:   target,
					useRegex: useRegex,
					ingress:  name,
					backend: Backend{
						Namespace: ing.Namespace,
						Service:   p.Backend.Service.Name,
						Port:      p.Backend.Service.Port,
					},
				}
				if target != "" {
					re, err := regexp.Compile("(?i)" + path)
					if err != nil {
						errs = append(errs, fmt.Errorf("ingress %s: path %q is not a usable regex: %w", name, path, err))
						delete(seen[srv], key)
						continue
					}
					loc.rewrite = re
				}
				srv.locations = append(srv.locations, loc)
			}
		}
	}
	for _, srv := range t.servers() {
		if err := srv.finish(); err != nil {
			errs = append(errs, err...)
		}
	}
	return t, errs
}

func (t *Table) serverFor(host string) *server {
	host = strings.ToLower(host)
	switch {
	case host == "":
		return t.catchAll
	case strings.HasPrefix(host, "*."):
		key := strings.TrimPrefix(host, "*.")
		if t.wildcards[key] == nil {
			t.wildcards[key] = &server{}
		}
		return t.wildcards[key]
	default:
		if t.exact[host] == nil {
			t.exact[host] = &server{}
		}
		return t.exact[host]
	}
}

func (t *Table) servers() []*server {
	out := []*server{t.catchAll}
	for _, s := range t.exact {
		out = append(out, s)
	}
	for _, s := range t.wildcards {
		out = append(out, s)
	}
	return out
}

// finish switches a server to regex mode when any of its locations asks for it (ingress-nginx's
// enforceRegexModifier: then EVERY location of that server is `~* "^<path>"`), and orders the
// locations longest path first, as ingress-nginx writes them.
func (s *server) finish() []error {
	for _, l := range s.locations {
		if l.useRegex {
			s.regex = true
		}
	}
	sort.SliceStable(s.locations, func(i, j int) bool {
		return len(s.locations[i].path) > len(s.locations[j].path)
	})
	if !s.regex {
		return nil
	}
	var errs []error
	kept := s.locations[:0]
	for _, l := range s.locations {
		re, err := regexp.Compile("(?i)^" + l.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingress %s: path %q is not a usable regex: %w", l.ingress, l.path, err))
			continue
		}
		l.match = re
		kept = append(kept, l)
	}
	s.locations = kept
	return errs
}

// Route finds where a request for host and path (already decoded) goes. The second result is false
// when nothing matches: ingress-nginx's default backend answers 404 then.
func (t *Table) Route(host, path, query string) (Route, bool) {
	if t == nil {
		return Route{}, false
	}
	host = strings.ToLower(stripPort(host))
	if path == "" {
		path = "/"
	}
	srv := t.exact[host]
	if srv == nil {
		if i := strings.IndexByte(host, '.'); i > 0 {
			srv = t.wildcards[host[i+1:]]
		}
	}
	if srv == nil {
		srv = t.catchAll
	}
	loc, ok := srv.match(path)
	if !ok {
		return Route{}, false
	}
	r := Route{Backend: loc.backend, Path: path, Query: query, Ingress: loc.ingress}
	if loc.rewrite != nil {
		if m := loc.rewrite.FindStringSubmatchIndex(path); m != nil {
			rewritten := string(loc.rewrite.ExpandString(nil, nginxTemplate(loc.target), path, m))
			r.Path, r.Query = splitRewrite(rewritten, query)
		}
	}
	return r, true
}

func (s *server) match(path string) (location, bool) {
	if s.regex {
		// nginx tries regex locations in order of appearance: the longest path comes first.
		for _, l := range s.locations {
			if l.match.MatchString(path) {
				return l, true
			}
		}
		return location{}, false
	}
	// Plain locations: an exact match wins, else the longest matching prefix.
	var best location
	bestLen := -1
	for _, l := range s.locations {
		switch l.pathType {
		case networkingv1.PathTypeExact:
			if path == l.path {
				return l, true
			}
		case networkingv1.PathTypePrefix:
			// Kubernetes Prefix matches element by element: /foo matches /foo and /foo/bar, not /foobar.
			p := strings.TrimSuffix(l.path, "/")
			if path == p || strings.HasPrefix(path, p+"/") || l.path == "/" {
				if len(p) > bestLen {
					best, bestLen = l, len(p)
				}
			}
		default:
			// ImplementationSpecific without regex is an nginx prefix location: a plain string prefix.
			if strings.HasPrefix(path, l.path) && len(l.path) > bestLen {
				best, bestLen = l, len(l.path)
			}
		}
	}
	return best, bestLen >= 0
}

// nginxTemplate converts nginx's $1 captures into Go's ${1} so that "$1abc" keeps meaning group 1
// followed by "abc", as in nginx.
func nginxTemplate(target string) string {
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '$' && i+1 < len(target) && target[i+1] >= '0' && target[i+1] <= '9' {
			b.WriteString("${" + string(target[i+1]) + "}")
			i++
			continue
		}
		if c == '$' {
			b.WriteString("$$")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// splitRewrite applies nginx's rewrite rule for arguments: when the replacement carries its own
// query string, the original arguments are appended to it.
func splitRewrite(rewritten, query string) (string, string) {
	path, q, found := strings.Cut(rewritten, "?")
	if !found {
		return path, query
	}
	if query != "" {
		if q != "" {
			q += "&"
		}
		q += query
	}
	return path, q
}

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i > 0 {
			return host[1:i]
		}
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[:i], ":") {
		return host[:i]
	}
	return host
}
