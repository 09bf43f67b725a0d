package cluster

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeTar(t *testing.T, files map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "images.tar")
	f, err := os.Create(path)
	require.NoError(t, err)
	tw := tar.NewWriter(f)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, f.Close())
	return path
}

func TestArchiveImagesNamesWhatTheArchiveHolds(t *testing.T) {
	t.Parallel()
	docker := writeTar(t, map[string]string{
		"manifest.json": `[{"Config":"c.json","RepoTags":["localhost/app:dev","app:v2"],"Layers":[]},{"RepoTags":["localhost/app:dev"]}]`,
	})
	names, err := ArchiveImages(docker)
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost/app:dev", "app:v2"}, names)

	oci := writeTar(t, map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"manifests":[{"annotations":{"io.containerd.image.name":"docker.io/library/app:dev"}}]}`,
	})
	names, err = ArchiveImages(oci)
	require.NoError(t, err)
	assert.Equal(t, []string{"docker.io/library/app:dev"}, names)

	// Docker's containerd image store names one image in both files: it is one image.
	both := writeTar(t, map[string]string{
		"oci-layout":    `{"imageLayoutVersion":"1.0.0"}`,
		"index.json":    `{"manifests":[{"annotations":{"io.containerd.image.name":"docker.io/library/app:v1"}},{"annotations":{"io.containerd.image.name":"docker.io/library/other:v2"}}]}`,
		"manifest.json": `[{"Config":"blobs/sha256/c","RepoTags":["app:v1"],"Layers":[]}]`,
	})
	names, err = ArchiveImages(both)
	require.NoError(t, err)
	assert.Equal(t, []string{"app:v1", "docker.io/library/other:v2"}, names)

	_, err = ArchiveImages(writeTar(t, map[string]string{"README": "hello"}))
	assert.ErrorContains(t, err, "is not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)")
	_, err = ArchiveImages(filepath.Join(t.TempDir(), "missing.tar"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
