package ingress

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestParseArgsIngressNginxManifest(t *testing.T) {
	t.Parallel()
	o, err := ParseArgs([]string{
		"--election-id=ingress-nginx-leader", "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
		"--configmap=ingress-nginx/ingress-nginx-controller", "--validating-webhook=:8443",
		"--validating-webhook-certificate=/usr/local/certificates/cert", "--validating-webhook-key=/usr/local/certificates/key",
		"--watch-ingress-without-class=true", "--publish-status-address=localhost",
		"--enable-metrics=false", "--v", "2", "--default-ssl-certificate=ns/name",
	}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, Options{
		ElectionID: "ingress-nginx-leader", ControllerClass: "k8s.io/ingress-nginx", IngressClass: "nginx",
		ConfigMap: "ingress-nginx/ingress-nginx-controller", WatchIngressWithoutClass: true,
		PublishStatusAddress: []string{"localhost"}, ValidatingWebhook: ":8443",
		ValidatingWebhookCertificate: "/usr/local/certificates/cert", ValidatingWebhookKey: "/usr/local/certificates/key",
		HTTPPort: 80, HTTPSPort: 443, HealthzPort: 10254,
	}, o)
}

func TestParseArgsWebhookNeedsCert(t *testing.T) {
	t.Parallel()
	_, err := ParseArgs([]string{"--validating-webhook=:8443"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--validating-webhook-certificate")
}

func TestClassFilter(t *testing.T) {
	t.Parallel()
	classes := map[string]string{"nginx": "k8s.io/ingress-nginx", "traefik": "traefik.io/ingress-controller"}
	f := ClassFilter{
		ControllerClass: "k8s.io/ingress-nginx", IngressClass: "nginx", WatchIngressWithoutClass: true,
		Controller: func(n string) (string, bool) { c, ok := classes[n]; return c, ok },
	}
	ing := func(className *string, annotation string) *networkingv1.Ingress {
		i := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: className}}
		if annotation != "" {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": annotation}
		}
		return i
	}
	assert.True(t, f.Handles(ing(ptr.To("nginx"), "")), "class nginx")
	assert.False(t, f.Handles(ing(ptr.To("traefik"), "")), "other controller")
	assert.False(t, f.Handles(ing(ptr.To("missing"), "")), "unknown class")
	assert.True(t, f.Handles(ing(nil, "nginx")), "legacy annotation")
	assert.False(t, f.Handles(ing(nil, "traefik")), "legacy annotation of another class")
	assert.True(t, f.Handles(ing(nil, "")), "no class with --watch-ingress-without-class")
	f.WatchIngressWithoutClass = false
	assert.False(t, f.Handles(ing(nil, "")), "no class without the flag")
}

func TestLoadBalancerStatus(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}, {Hostname: "localhost"}},
		loadBalancerStatus([]string{"localhost", "10.0.0.1"}))
	assert.Empty(t, loadBalancerStatus(nil))
}

func TestReadyEndpoints(t *testing.T) {
	t.Parallel()
	slices := []*discoveryv1.EndpointSlice{
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "a"},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](5000)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
				{Addresses: []string{"10.244.0.8"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
				{Addresses: []string{"10.244.0.6"}},
			},
		},
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "fqdn"},
			AddressType: discoveryv1.AddressTypeFQDN,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](5000)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"db.example"}}},
		},
	}
	assert.Equal(t, []string{"10.244.0.6:5000", "10.244.0.7:5000"}, readyEndpoints(slices, ""))
	assert.Empty(t, readyEndpoints(slices, "http"), "a named service port needs the same name on the slice")
}
