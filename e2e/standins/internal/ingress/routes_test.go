package ingress

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type testPath struct {
	path     string
	pathType networkingv1.PathType
	service  string
	port     int32
}

func testIngress(name, host string, annotations map[string]string, created time.Time, paths ...testPath) *networkingv1.Ingress {
	rule := networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
	for _, p := range paths {
		pt := p.pathType
		rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
			Path:     p.path,
			PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: p.service, Port: networkingv1.ServiceBackendPort{Number: p.port},
			}},
		})
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "example", Annotations: annotations, CreationTimestamp: metav1.NewTime(created)},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule}},
	}
}

// The tutorial's Ingress (both pathTypes as written upstream, and as the ImplementationSpecific fix).
func exampleIngress(pt networkingv1.PathType) *networkingv1.Ingress {
	return testIngress("frontend-ingress", "", map[string]string{AnnotationRewriteTarget: "/$1"}, time.Unix(100, 0),
		testPath{"/?(.*)", pt, "frontend-service", 3000},
		testPath{"/api/?(.*)", pt, "backend-service", 5000},
	)
}

func TestRouteExampleRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, path, query string
		wantService             string
		wantPath, wantQuery     string
	}{
		{name: "api healthy reaches backend at /healthy", path: "/api/healthy", wantService: "backend-service", wantPath: "/healthy"},
		{name: "api is case-insensitive", path: "/API/fetch", wantService: "backend-service", wantPath: "/fetch"},
		{name: "bare /api reaches backend root", path: "/api", wantService: "backend-service", wantPath: "/"},
		{name: "api slash reaches backend root", path: "/api/", wantService: "backend-service", wantPath: "/"},
		{name: "query string is kept", path: "/api/fetch", query: "a=1", wantService: "backend-service", wantPath: "/fetch", wantQuery: "a=1"},
		{name: "root reaches frontend", path: "/", wantService: "frontend-service", wantPath: "/"},
		{name: "other path reaches frontend unchanged", path: "/static/js/main.js", wantService: "frontend-service", wantPath: "/static/js/main.js"},
		{name: "apiary is the backend too (regex ^/api/?)", path: "/apiary", wantService: "backend-service", wantPath: "/ary"},
		{name: "any host matches a host-less rule", host: "example.test:8080", path: "/api/host_name", wantService: "backend-service", wantPath: "/host_name"},
	}
	for _, pt := range []networkingv1.PathType{networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific} {
		table, errs := BuildTable([]*networkingv1.Ingress{exampleIngress(pt)})
		require.Empty(t, errs)
		for _, tt := range tests {
			t.Run(string(pt)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				host := tt.host
				if host == "" {
					host = "localhost"
				}
				r, ok := table.Route(host, tt.path, tt.query)
				require.True(t, ok)
				assert.Equal(t, tt.wantService, r.Backend.Service)
				assert.Equal(t, tt.wantPath, r.Path)
				assert.Equal(t, tt.wantQuery, r.Query)
				assert.Equal(t, "example/frontend-ingress", r.Ingress)
			})
		}
	}
}

func TestRoutePlainPathTypes(t *testing.T) {
	t.Parallel()
	table, errs := BuildTable([]*networkingv1.Ingress{testIngress("plain", "", nil, time.Unix(1, 0),
		testPath{"/foo", networkingv1.PathTypePrefix, "foo", 80},
		testPath{"/foo/bar", networkingv1.PathTypePrefix, "foobar", 80},
		testPath{"/exact", networkingv1.PathTypeExact, "exact", 80},
		testPath{"/impl", networkingv1.PathTypeImplementationSpecific, "impl", 80},
	)})
	require.Empty(t, errs)
	tests := []struct {
		path    string
		service string // "" = no match (404)
	}{
		{"/foo", "foo"},
		{"/foo/", "foo"},
		{"/foo/baz", "foo"},
		{"/foobar", ""},
		{"/foo/bar", "foobar"},
		{"/foo/bar/x", "foobar"},
		{"/exact", "exact"},
		{"/exact/", ""},
		{"/implementation", "impl"},
		{"/FOO", ""},
		{"/", ""},
		{"/nothing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			r, ok := table.Route("localhost", tt.path, "")
			if tt.service == "" {
				assert.False(t, ok, "want 404, got %s", r.Backend.Service)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.service, r.Backend.Service)
			assert.Equal(t, tt.path, r.Path, "no rewrite without the annotation")
		})
	}
}

func TestRouteRegexModeIsPerServer(t *testing.T) {
	t.Parallel()
	// A second Ingress without annotations on the same (empty) host: ingress-nginx turns its
	// locations into regex too, so /v1 matches /v10 (prefix regex), and longest path still wins.
	table, errs := BuildTable([]*networkingv1.Ingress{
		exampleIngress(networkingv1.PathTypeImplementationSpecific),
		testIngress("plain", "", nil, time.Unix(200, 0), testPath{"/v1", networkingv1.PathTypePrefix, "v1", 80}),
		testIngress("hosted", "shop.test", nil, time.Unix(300, 0), testPath{"/", networkingv1.PathTypePrefix, "shop", 80}),
	})
	require.Empty(t, errs)

	r, ok := table.Route("localhost", "/v10", "")
	require.True(t, ok)
	assert.Equal(t, "frontend-service", r.Backend.Service, "/?(.*) is longer than /v1, so it is tried first")

	r, ok = table.Route("SHOP.test", "/api/healthy", "")
	require.True(t, ok)
	assert.Equal(t, "shop", r.Backend.Service, "a host rule only sees its own locations")
	assert.Equal(t, "/api/healthy", r.Path)
}

func TestRouteFirstIngressKeepsPath(t *testing.T) {
	t.Parallel()
	table, errs := BuildTable([]*networkingv1.Ingress{
		testIngress("newer", "", nil, time.Unix(200, 0), testPath{"/app", networkingv1.PathTypePrefix, "new", 80}),
		testIngress("older", "", nil, time.Unix(100, 0), testPath{"/app", networkingv1.PathTypePrefix, "old", 80}),
	})
	require.Empty(t, errs)
	r, ok := table.Route("localhost", "/app", "")
	require.True(t, ok)
	assert.Equal(t, "old", r.Backend.Service)
}

func TestRouteEmptyTable(t *testing.T) {
	t.Parallel()
	table, errs := BuildTable(nil)
	require.Empty(t, errs)
	_, ok := table.Route("localhost", "/", "")
	assert.False(t, ok)
	var none *Table
	_, ok = none.Route("localhost", "/", "")
	assert.False(t, ok)
}

func TestRouteBadRegexIsSkipped(t *testing.T) {
	t.Parallel()
	table, errs := BuildTable([]*networkingv1.Ingress{testIngress("bad", "", map[string]string{AnnotationRewriteTarget: "/$1"}, time.Unix(1, 0),
		testPath{"/(?<=x)(.*)", networkingv1.PathTypeImplementationSpecific, "bad", 80},
		testPath{"/ok/(.*)", networkingv1.PathTypeImplementationSpecific, "ok", 80},
	)})
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), `path "/(?<=x)(.*)"`)
	r, ok := table.Route("localhost", "/ok/x", "")
	require.True(t, ok)
	assert.Equal(t, "/x", r.Path)
}

func TestNginxRewriteTemplate(t *testing.T) {
	t.Parallel()
	table, errs := BuildTable([]*networkingv1.Ingress{testIngress("rw", "", map[string]string{AnnotationRewriteTarget: "/v2/$2?from=$1"}, time.Unix(1, 0),
		testPath{"/(a|b)/(.*)", networkingv1.PathTypeImplementationSpecific, "svc", 80},
	)})
	require.Empty(t, errs)
	r, ok := table.Route("localhost", "/b/items", "x=1")
	require.True(t, ok)
	assert.Equal(t, "/v2/items", r.Path)
	assert.Equal(t, "from=b&x=1", r.Query)
}
