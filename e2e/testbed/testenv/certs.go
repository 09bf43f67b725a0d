package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the control plane's certificates and keys, as PEM, plus where they were written.
type pki struct {
	caCert, caKey         []byte
	serverCert, serverKey []byte
	adminCert, adminKey   []byte
	saKey, saPub          []byte
	files                 map[string]string // logical name -> path
}

// keyPair is a certificate with its key, kept parsed for signing.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newPKI creates a CA, an apiserver serving certificate for loopback and the in-cluster names,
// an admin client certificate in system:masters, and a service-account signing key, and writes
// them as PEM files into dir. ECDSA P-256 keys keep generation instant.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour) // tolerate small clock skew between processes
	ca, err := newKeyPair(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "kindstack-testenv-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	server, err := newKeyPair(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
	}, ca)
	if err != nil {
		return nil, fmt.Errorf("create apiserver certificate: %w", err)
	}
	admin, err := newKeyPair(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kindstack-admin", Organization: []string{"system:masters"}},
		NotBefore:   now,
		NotAfter:    now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return nil, fmt.Errorf("create admin certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	p := &pki{
		caCert:     certPEM(ca.cert),
		serverCert: certPEM(server.cert),
		adminCert:  certPEM(admin.cert),
		files:      map[string]string{},
	}
	for dst, k := range map[*[]byte]*ecdsa.PrivateKey{&p.caKey: ca.key, &p.serverKey: server.key, &p.adminKey: admin.key, &p.saKey: saKey} {
		if *dst, err = keyPEM(k); err != nil {
			return nil, err
		}
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode service account public key: %w", err)
	}
	p.saPub = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	for name, data := range map[string][]byte{
		"ca.crt": p.caCert, "ca.key": p.caKey,
		"apiserver.crt": p.serverCert, "apiserver.key": p.serverKey,
		"admin.crt": p.adminCert, "admin.key": p.adminKey,
		"sa.key": p.saKey, "sa.pub": p.saPub,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
		p.files[name] = path
	}
	return p, nil
}

// newKeyPair creates a key and a certificate from tmpl, signed by parent (self-signed when nil).
func newKeyPair(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ServingCertificate is a TLS serving certificate for 127.0.0.1 signed by a fresh CA, for tests that
// run a server the apiserver must call (an admission webhook given by URL).
type ServingCertificate struct {
	CACert []byte // PEM, for a webhook's caBundle
	Cert   []byte // PEM
	Key    []byte // PEM
}

// NewServingCertificate returns a serving certificate for 127.0.0.1 and localhost.
func NewServingCertificate() (*ServingCertificate, error) {
	now := time.Now().Add(-time.Hour)
	ca, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "kindstack-test-webhook-ca"}, NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, nil)
	if err != nil {
		return nil, err
	}
	leaf, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca)
	if err != nil {
		return nil, err
	}
	key, err := keyPEM(leaf.key)
	if err != nil {
		return nil, err
	}
	return &ServingCertificate{CACert: certPEM(ca.cert), Cert: certPEM(leaf.cert), Key: key}, nil
}
