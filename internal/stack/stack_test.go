package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/transform"
)

func TestBaseURLIsWhatABrowserOnThisMachineOpens(t *testing.T) {
	tests := []struct {
		listen string
		port   int
		want   string
	}{
		{"127.0.0.1", 80, "http://localhost"},
		{"", 80, "http://localhost"},
		{"0.0.0.0", 8080, "http://localhost:8080"},
		{"::1", 8080, "http://localhost:8080"},
		{"::", 80, "http://localhost"},
		{"192.168.1.20", 80, "http://192.168.1.20"},
		{"192.168.1.20", 8080, "http://192.168.1.20:8080"},
		{"fd00::1", 8080, "http://[fd00::1]:8080"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, BaseURL(tt.listen, tt.port), "listen %q port %d", tt.listen, tt.port)
	}
}

func TestValidateRejectsAnImagesKeyThatMatchesNothing(t *testing.T) {
	s := config.Defaults()
	s.Images = map[string]string{"lyzhang1999/frontnd:latest": "mirror.example.com/frontend:latest"}
	err := Validate(s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lyzhang1999/frontnd:latest matches no image kindstack installs")
	assert.Contains(t, err.Error(), "lyzhang1999/frontend:latest", "the message lists the images that can be replaced")

	s.Images = map[string]string{"lyzhang1999/frontend:latest": "mirror.example.com/frontend:latest"}
	assert.NoError(t, Validate(s))
}

// The e2e test bed's config must keep replacing every image kindstack installs: an image it
// misses would be pulled, which cannot work offline.
func TestAirgapConfigReplacesEveryImage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "e2e", "testdata", "airgap.yaml"))
	require.NoError(t, err)
	var file struct {
		Images map[string]string `json:"images"`
	}
	require.NoError(t, yaml.Unmarshal(data, &file))
	s := config.Defaults()
	s.Images = file.Images
	require.NoError(t, Validate(s))

	sets, err := Sets(s)
	require.NoError(t, err)
	require.Len(t, sets, 3)
	for _, set := range sets {
		used, err := transform.ContainerImages(set.Objects)
		require.NoError(t, err)
		for _, img := range used {
			assert.True(t, strings.HasPrefix(img, "kindstack.test/"), "%s runs %s, which the test bed does not build", set.Name, img)
		}
	}
}

func TestSetsWithoutExampleAreOnlyTheAddons(t *testing.T) {
	s := config.Defaults()
	s.Example = false
	sets, err := Sets(s)
	require.NoError(t, err)
	var names []string
	for _, set := range sets {
		names = append(names, set.Name)
	}
	assert.Equal(t, []string{"ingress-nginx", "metrics-server"}, names)
}

func TestPreloadResultSaysWhatHappenedInAFewWords(t *testing.T) {
	tests := []struct {
		res  PreloadResult
		want string
	}{
		{PreloadResult{}, "no images"},
		{PreloadResult{Loaded: []string{"a"}}, "image: 1 loaded"},
		{PreloadResult{Loaded: []string{"a", "b"}, Remote: []string{"c@sha256:00"}}, "images: 2 loaded, 1 to pull"},
		{PreloadResult{Present: []string{"a", "b", "c"}}, "images: 3 already on the node"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.res.String())
	}
}
