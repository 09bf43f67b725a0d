package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

func TestPKIServesLoopbackAndAuthenticatesAdmin(t *testing.T) {
	t.Parallel()
	p, err := newPKI(t.TempDir())
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(p.caCert))

	server := parseCert(t, p.serverCert)
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc", "10.0.0.1"} {
		_, err := server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots})
		assert.NoError(t, err, "clients reach the apiserver as %s", host)
	}
	admin := parseCert(t, p.adminCert)
	_, err = admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
	assert.Equal(t, []string{"system:masters"}, admin.Subject.Organization, "the admin is cluster-admin through its group")

	for _, name := range []string{"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub"} {
		assert.FileExists(t, p.files[name])
	}
	_, err = tls.X509KeyPair(p.serverCert, p.serverKey)
	assert.NoError(t, err, "the serving key matches its certificate")
}

func TestKubeconfigIsSelfContained(t *testing.T) {
	t.Parallel()
	p, err := newPKI(t.TempDir())
	require.NoError(t, err)
	data, err := kubeconfig(p, 41234)
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:41234", cfg.Host)
	assert.Equal(t, p.caCert, cfg.CAData)
	assert.Equal(t, p.adminCert, cfg.CertData)
	assert.Empty(t, cfg.CAFile, "no file references: the kubeconfig works from anywhere")
}

func TestServingCertificateForWebhooks(t *testing.T) {
	t.Parallel()
	sc, err := NewServingCertificate()
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(sc.CACert))
	_, err = parseCert(t, sc.Cert).Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots})
	assert.NoError(t, err)
	_, err = tls.X509KeyPair(sc.Cert, sc.Key)
	assert.NoError(t, err)
}

func TestFindBinariesNamesWhatIsMissingAndHowToBuildIt(t *testing.T) {
	dir := t.TempDir()
	etcd := filepath.Join(dir, "etcd")
	require.NoError(t, os.WriteFile(etcd, []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kube-apiserver"), []byte("#!/bin/sh\n"), 0o755))
	t.Setenv(EnvK8sBinDir, dir)
	t.Setenv(EnvEtcd, etcd)

	_, err := FindBinaries(t.Context(), "/nonexistent")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "kube-controller-manager"))
	assert.Contains(t, err.Error(), filepath.Join(dir, "kube-scheduler"))
	assert.NotContains(t, err.Error(), "kube-apiserver,")
	assert.Contains(t, err.Error(), BuildCommand)

	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
	}
	bins, err := FindBinaries(t.Context(), "/nonexistent")
	require.NoError(t, err)
	assert.Equal(t, etcd, bins.Etcd)
	assert.Equal(t, filepath.Join(dir, "kube-scheduler"), bins.Scheduler)
}

func TestRepoRootFindsKindstack(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := RepoRoot(wd)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(root, "e2e", "testbed", "controlplane.sh"))
	_, err = RepoRoot(t.TempDir())
	assert.Error(t, err)
}
