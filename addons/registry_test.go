package addons

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/component"
	"github.com/kindstack/kindstack/internal/imageref"
	"github.com/kindstack/kindstack/internal/kube"
	"github.com/kindstack/kindstack/internal/transform"
)

func TestRegistryWritesTheKEP1755ConfigMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *RegistryOptions
		want LocalRegistryHosting
	}{
		{"defaults", nil, LocalRegistryHosting{Host: "localhost:5001", HostFromContainerRuntime: "localhost:5001",
			HostFromClusterNetwork: "kindstack-registry:5000", Help: RegistryHelp}},
		{"another port on every interface", &RegistryOptions{Port: 5002, ListenAddress: "0.0.0.0"}, LocalRegistryHosting{Host: "localhost:5002",
			HostFromContainerRuntime: "localhost:5002", HostFromClusterNetwork: "kindstack-registry:5000", Help: RegistryHelp}},
		{"an address of this machine", &RegistryOptions{Port: 5001, ListenAddress: "192.168.1.20"}, LocalRegistryHosting{Host: "192.168.1.20:5001",
			HostFromContainerRuntime: "localhost:5001", HostFromClusterNetwork: "kindstack-registry:5000", Help: RegistryHelp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := component.Params{}
			if tt.opts != nil {
				p.Options = tt.opts
			}
			set, err := Registry().Build(p)
			require.NoError(t, err)
			require.Len(t, set.Objects, 1)
			cm := set.Objects[0]
			assert.Equal(t, kube.Ref{Kind: "ConfigMap", Namespace: "kube-public", Name: "local-registry-hosting"}, kube.RefOf(cm))
			assert.Equal(t, "registry", cm.GetLabels()[kube.ComponentLabel], "kindstack's label: the inventory prunes it")
			data, _, err := unstructured.NestedStringMap(cm.Object, "data")
			require.NoError(t, err)
			require.Contains(t, data, "localRegistryHosting.v1")
			var got map[string]string
			require.NoError(t, yaml.Unmarshal([]byte(data["localRegistryHosting.v1"]), &got))
			assert.Equal(t, map[string]string{"host": tt.want.Host, "hostFromContainerRuntime": tt.want.HostFromContainerRuntime,
				"hostFromClusterNetwork": tt.want.HostFromClusterNetwork, "help": tt.want.Help}, got)
		})
	}
}

func TestRegistryRunsThePinnedImageBesideTheNodesUnlessTheImagesMapSaysOtherwise(t *testing.T) {
	t.Parallel()
	ref, err := imageref.Parse(RegistryImage)
	require.NoError(t, err)
	assert.True(t, ref.Pinned(), "the registry image is pinned by digest")
	assert.Equal(t, "docker.io/library/registry", ref.Name())

	cs := Registry().Containers(component.Params{})
	require.Len(t, cs, 1)
	c := cs[0]
	assert.Equal(t, RegistryImage, c.Image)
	assert.Equal(t, "kindstack-registry", c.Name)
	assert.Equal(t, "localhost:5001", c.Registry)
	assert.Equal(t, 5001, c.HostPort)
	assert.Equal(t, "127.0.0.1", c.ListenAddress)
	assert.Equal(t, "kindstack-registry", c.Volume)
	assert.Equal(t, "/var/lib/registry", c.Env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"], "the storage is where the volume is")
	assert.Equal(t, c.VolumePath, c.Env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"])
	assert.Equal(t, ":5000", c.Env["REGISTRY_HTTP_ADDR"])

	images, err := Registry().Images(component.Params{})
	require.NoError(t, err)
	assert.Equal(t, []string{RegistryImage}, images, "images list and the images map know it")

	mapped := Registry().Containers(component.Params{Images: transform.ImageMap{"docker.io/library/registry:3": "kindstack.test/distribution:v3.1.2"},
		Options: &RegistryOptions{Port: 5002, ListenAddress: "127.0.0.1"}})
	assert.Equal(t, "kindstack.test/distribution:v3.1.2", mapped[0].Image)
	assert.Equal(t, "localhost:5002", mapped[0].Registry)
}

func TestRegistryOptionsRefuseWhatIsNotAPortOrAnAddress(t *testing.T) {
	t.Parallel()
	o := Registry().Options
	assert.NoError(t, o.Check(&RegistryOptions{Port: 5001, ListenAddress: "127.0.0.1"}))
	assert.EqualError(t, o.Check(&RegistryOptions{Port: 70000, ListenAddress: "127.0.0.1"}), "port 70000 is not a TCP port (1-65535)")
	assert.EqualError(t, o.Check(&RegistryOptions{Port: 5001, ListenAddress: "localhost"}),
		`listenAddress "localhost" is not an IP address; use 127.0.0.1 (or 0.0.0.0 for every interface)`)
}
