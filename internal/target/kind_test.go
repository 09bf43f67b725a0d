package target

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kindstack/kindstack/cluster"
)

func TestKindReadsKubernetesFromTheNodeImageTag(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]int{
		"kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0": 35,
		"kindstack.test/kind-node:v1.33.13": 33,
		"my/node:latest":                    0,
	} {
		minor, from := NewKind(nil, KindOptions{Spec: cluster.Spec{NodeImage: image}}).Kubernetes()
		assert.Equal(t, want, minor, image)
		if want != 0 {
			assert.Equal(t, "node image "+image, from)
		}
	}
}

func TestKindIngressIsTheMappedHostPort(t *testing.T) {
	t.Parallel()
	k := NewKind(nil, KindOptions{Spec: cluster.Spec{Name: "x", ListenAddress: "127.0.0.1", HTTPPort: 8080}})
	assert.Equal(t, "http://localhost:8080", k.IngressURL())
	assert.Equal(t, map[string]string{"ingress-ready": "true"}, k.IngressNode())
	assert.Equal(t, "cluster x", k.Describe())
	assert.Nil(t, k.ImageProbe(), "no mirrors: nothing to ask")
	assert.Empty(t, k.Provides())
}
