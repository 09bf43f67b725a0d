package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// compressOnce turns an image an engine saved (its layers uncompressed, as `docker save` writes
// them) into one whose layers are gzip files in dir, a layout's blob directory, each compressed
// in a single pass that also digests it (writing the image to the layout then finds them there). Reading the saved image as it is would compress every layer twice: once to learn
// its digest, once to write it (60 s for a 1.5 GB baked node image on 2 cores). The config is kept
// byte for byte, so the engine's image ID stays.
func compressOnce(saved v1.Image, dir string) (v1.Image, error) {
	config, err := saved.RawConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := saved.Layers()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := make([]*gzipLayer, len(layers))
	var g errgroup.Group
	g.SetLimit(2)
	for i, l := range layers {
		g.Go(func() error {
			f, err := compressLayer(l, dir, fmt.Sprintf(".layer-%d.tar.gz", i))
			files[i] = f
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(config)), Digest: digestOf(config)},
	}
	byDigest := map[v1.Hash]*gzipLayer{}
	for _, f := range files {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: f.size, Digest: f.digest})
		byDigest[f.digest] = f
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&gzipImage{config: config, manifest: manifest, layers: byDigest})
}

// compressLayer writes l's uncompressed content as gzip (fastest level: the bundle is carried
// once, written on every save) to dir/tmp, then names it by its digest.
func compressLayer(l v1.Layer, dir, tmp string) (*gzipLayer, error) {
	path := filepath.Join(dir, tmp)
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(f, h)}
	zw, err := gzip.NewWriterLevel(counted, gzip.BestSpeed)
	if err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(zw, rc); err != nil {
		f.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	digest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	final := filepath.Join(dir, digest.Hex)
	if err := os.Rename(path, final); err != nil {
		return nil, err
	}
	return &gzipLayer{path: final, size: counted.n, digest: digest}, nil
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// gzipImage is an image of compressed layer files, its config and manifest as given.
type gzipImage struct {
	config, manifest []byte
	layers           map[v1.Hash]*gzipLayer
}

func (g *gzipImage) RawConfigFile() ([]byte, error)      { return g.config, nil }
func (g *gzipImage) RawManifest() ([]byte, error)        { return g.manifest, nil }
func (g *gzipImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (g *gzipImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := g.layers[h]; ok {
		return l, nil
	}
	if h == digestOf(g.config) {
		return &configBlob{b: g.config}, nil
	}
	return nil, fmt.Errorf("no blob %s", h)
}

// gzipLayer is one compressed layer file.
type gzipLayer struct {
	path   string
	size   int64
	digest v1.Hash
}

func (l *gzipLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *gzipLayer) Size() (int64, error)                { return l.size, nil }
func (l *gzipLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *gzipLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// configBlob is the config, asked for as a blob.
type configBlob struct{ b []byte }

func (c *configBlob) Digest() (v1.Hash, error)            { return digestOf(c.b), nil }
func (c *configBlob) Size() (int64, error)                { return int64(len(c.b)), nil }
func (c *configBlob) MediaType() (types.MediaType, error) { return types.DockerConfigJSON, nil }
func (c *configBlob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.b)), nil
}
