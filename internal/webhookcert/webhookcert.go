// Package webhookcert makes the serving certificate of an admission webhook, the work upstream
// manifests leave to kube-webhook-certgen Jobs: a CA, and a certificate for the webhook's Service
// signed by it. kindstack writes them into the webhook's Secret and the CA into the webhook
// configuration's caBundle itself, before anything is applied, so there is no Job to pull, run
// or wait for.
package webhookcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// The Secret's keys, the ones kube-webhook-certgen writes.
const (
	CAKey   = "ca"
	CertKey = "cert"
	KeyKey  = "key"
)

// Validity is how long a new CA and certificate are valid; one is replaced when less than Renew
// is left.
const (
	Validity = 10 * 365 * 24 * time.Hour
	Renew    = 30 * 24 * time.Hour
)

// Ensure returns the Secret data to use for a webhook served under hosts: existing when it holds a
// CA and a matching key and certificate, signed by that CA, for every host and valid for at least
// Renew from now; otherwise a new CA and certificate. reused says which; why is the reason a new
// one was made ("" when reused or there was none).
func Ensure(existing map[string][]byte, hosts []string, now time.Time) (data map[string][]byte, reused bool, why string, err error) {
	if len(existing) > 0 {
		why = check(existing, hosts, now)
		if why == "" {
			return existing, true, "", nil
		}
	}
	data, err = Generate(hosts, now)
	return data, false, why, err
}

// check says why data cannot serve hosts at now, or "" when it can.
func check(data map[string][]byte, hosts []string, now time.Time) string {
	ca, err := parseCert(data[CAKey])
	if err != nil {
		return "its CA: " + err.Error()
	}
	leaf, err := parseCert(data[CertKey])
	if err != nil {
		return "its certificate: " + err.Error()
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, h := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: now.Add(Renew), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Sprintf("it does not serve %s for another %s: %v", h, Renew, err)
		}
	}
	block, _ := pem.Decode(data[KeyKey])
	if block == nil {
		return "its key is not PEM"
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return "its key: " + err.Error()
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return "its key does not match its certificate"
	}
	return ""
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Generate makes a new CA and a certificate for hosts signed by it (ECDSA P-256, valid from a
// minute before now for Validity).
func Generate(hosts []string, now time.Time) (map[string][]byte, error) {
	if len(hosts) == 0 {
		return nil, errors.New("webhook certificate: no host names")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kindstack webhook CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     slices.Clone(hosts),
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: %w", err)
	}
	return map[string][]byte{
		CAKey:   pemBlock("CERTIFICATE", caDER),
		CertKey: pemBlock("CERTIFICATE", leafDER),
		KeyKey:  pemBlock("EC PRIVATE KEY", keyDER),
	}, nil
}

func pemBlock(kind string, der []byte) []byte {
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: kind, Bytes: der})
	return b.Bytes()
}

// serial is a random 127-bit serial number (crypto/rand does not fail).
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
