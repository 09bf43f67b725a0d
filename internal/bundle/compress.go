package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// compressOnce reads an image an engine saved (`docker save`: manifest.json, its config and
// layers) and makes it an image whose layers are gzip files in dir, a layout's blob directory
// (writing the image to the layout then finds them there). Each layer is taken as the engine wrote
// it, which differs layer by layer: Docker's classic store writes tars; its containerd image store
// writes each layer as it holds it, a pulled or loaded one uncompressed and a committed one
// gzipped, in one image. A gzip layer is copied as it is; any other is compressed in one pass that
// also digests it. (Reading the archive as one image would decide from the first layer alone, and
// gzip a gzipped layer again: a node image the engine cannot unpack. It would also compress each
// layer twice, to learn its digest and to write it: 57 s for a 1.5 GB baked node image, now 29 s.)
// The config is kept byte for byte, so the engine's image ID stays.
func compressOnce(archive, dir string) (v1.Image, error) {
	var saved []struct {
		Config string
		Layers []string
	}
	raw, err := readArchiveFile(archive, "manifest.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &saved); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(saved) != 1 {
		return nil, fmt.Errorf("manifest.json lists %d images, want 1", len(saved))
	}
	config, err := readArchiveFile(archive, saved[0].Config)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := make([]*gzipLayer, len(saved[0].Layers))
	var g errgroup.Group
	g.SetLimit(2)
	for i, path := range saved[0].Layers {
		g.Go(func() error {
			f, err := gzipLayerOf(archive, path, dir, fmt.Sprintf(".layer-%d.tar.gz", i))
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

// openArchiveFile opens the entry name of the tar archive; closing it closes the archive.
func openArchiveFile(archive, name string) (io.ReadCloser, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			f.Close()
			return nil, fmt.Errorf("%s holds no %s", archive, name)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		if path.Clean(h.Name) == path.Clean(name) {
			return struct {
				io.Reader
				io.Closer
			}{tr, f}, nil
		}
	}
}

func readArchiveFile(archive, name string) ([]byte, error) {
	rc, err := openArchiveFile(archive, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// gzipLayerOf writes the layer at path in archive as gzip to dir/tmp — copied when it is gzip
// already; compressed (fastest level: the bundle is carried once, written on every save) when it
// is a tar or zstd — then names it by its digest.
func gzipLayerOf(archive, path, dir, tmp string) (*gzipLayer, error) {
	rc, err := openArchiveFile(archive, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	magic, _ := br.Peek(4)
	out := filepath.Join(dir, tmp)
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(f, h)}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		_, err = io.Copy(counted, br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var zr *zstd.Decoder
		if zr, err = zstd.NewReader(br); err == nil {
			err = gzipTo(counted, zr)
			zr.Close()
		}
	default:
		err = gzipTo(counted, br)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	digest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	final := filepath.Join(dir, digest.Hex)
	if err := os.Rename(out, final); err != nil {
		return nil, err
	}
	return &gzipLayer{path: final, size: counted.n, digest: digest}, nil
}

func gzipTo(w io.Writer, r io.Reader) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
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
