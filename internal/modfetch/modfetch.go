// Package modfetch reads files out of a Go module, verified by the module's go.sum hash: from the
// local Go module cache when it has the module, else from kindstack's own cache, else downloaded
// from the Go module proxy ($GOPROXY, like the go command). kindstack takes upstream projects'
// own files this way (the Gateway API CRDs) instead of copying them into its source.
package modfetch

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// DefaultProxy is the go command's default $GOPROXY.
const DefaultProxy = "https://proxy.golang.org,direct"

// Fetcher finds module zips. Zero fields mean: no local module cache, no own cache, no proxy.
type Fetcher struct {
	// Proxy is a $GOPROXY list ("URL,URL|URL"); "direct" and "off" entries are skipped (kindstack
	// does not clone repositories).
	Proxy string
	// ModCache is the go command's module cache ($GOMODCACHE), read only.
	ModCache string
	// CacheDir is where downloaded zips are kept.
	CacheDir string
	// PrivateDir, when set, checks (creating it if missing) that CacheDir is the user's own,
	// private directory before a zip is kept there or taken from it.
	PrivateDir func(dir string) error
	// HTTP does the downloads; nil means a client with a 2-minute timeout.
	HTTP *http.Client
}

// Module names one module version and its go.sum hash ("h1:...").
type Module struct {
	Path, Version, Sum string
}

func (m Module) String() string { return m.Path + "@" + m.Version }

// YAML returns the *.yaml files directly in dir of the module, in name order, as one multi-document
// YAML stream.
func (f Fetcher) YAML(ctx context.Context, m Module, dir string) ([]byte, error) {
	zipPath, err := f.zip(ctx, m)
	if err != nil {
		return nil, err
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", zipPath, err)
	}
	defer zr.Close()
	prefix := m.String() + "/" + strings.Trim(dir, "/") + "/"
	var names []string
	files := map[string]*zip.File{}
	for _, zf := range zr.File {
		rest, ok := strings.CutPrefix(zf.Name, prefix)
		if !ok || strings.Contains(rest, "/") || path.Ext(rest) != ".yaml" {
			continue
		}
		names = append(names, rest)
		files[rest] = zf
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("module %s has no *.yaml files in %s", m, dir)
	}
	sort.Strings(names)
	var out []byte
	for _, name := range names {
		rc, err := files[name].Open()
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", m, name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", m, name, err)
		}
		out = append(out, "\n---\n"...)
		out = append(out, data...)
	}
	return out, nil
}

// zip returns the path of a zip of m whose hash is m.Sum.
func (f Fetcher) zip(ctx context.Context, m Module) (string, error) {
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", m, err)
	}
	escVersion, err := module.EscapeVersion(m.Version)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", m, err)
	}
	rel := filepath.Join(filepath.FromSlash(escPath), "@v", escVersion+".zip")
	var local []string
	if f.ModCache != "" {
		local = append(local, filepath.Join(f.ModCache, "cache", "download", rel))
	}
	if f.CacheDir != "" {
		if f.PrivateDir != nil {
			if err := f.PrivateDir(f.CacheDir); err != nil {
				return "", fmt.Errorf("module cache: %w", err)
			}
		}
		local = append(local, filepath.Join(f.CacheDir, rel))
	}
	for _, p := range local {
		if verify(p, m) == nil {
			return p, nil
		}
	}
	if f.CacheDir == "" {
		return "", fmt.Errorf("module %s is not in the Go module cache and there is no cache directory to download it to", m)
	}
	proxies := proxyList(f.Proxy)
	if len(proxies) == 0 {
		return "", fmt.Errorf("module %s is not in the Go module cache, and GOPROXY=%q names no module proxy to download it from", m, f.Proxy)
	}
	dst := filepath.Join(f.CacheDir, rel)
	var errs []error
	for _, proxy := range proxies {
		url := strings.TrimRight(proxy, "/") + "/" + escPath + "/@v/" + escVersion + ".zip"
		err := f.download(ctx, url, dst, m)
		if err == nil {
			return dst, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("download Go module %s: %w (set GOPROXY to a module proxy this machine reaches, e.g. GOPROXY=https://goproxy.cn)", m, errors.Join(errs...))
}

// download fetches url into dst, keeping it only when its hash is m.Sum.
func (f Fetcher) download(ctx context.Context, url, dst string, m Module) error {
	client := f.HTTP
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*.zip")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cache file: %w", err)
	}
	if err := verify(tmp.Name(), m); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("keep download: %w", err)
	}
	return nil
}

// verify checks that the zip at p hashes to m.Sum, the way the go command checks go.sum.
func verify(p string, m Module) error {
	got, err := dirhash.HashZip(p, dirhash.Hash1)
	if err != nil {
		return fmt.Errorf("hash %s: %w", p, err)
	}
	if got != m.Sum {
		return fmt.Errorf("module %s: zip hash is %s, want %s (go.sum): refusing it", m, got, m.Sum)
	}
	return nil
}

// proxyList splits a $GOPROXY value into proxy URLs, skipping direct and off.
func proxyList(goproxy string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		p = strings.TrimSpace(p)
		if p == "" || p == "direct" || p == "off" {
			continue
		}
		out = append(out, p)
	}
	return out
}
