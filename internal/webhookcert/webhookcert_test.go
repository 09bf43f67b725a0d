package webhookcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var hosts = []string{"hook-svc", "hook-svc.ns.svc"}

// A client that trusts only the CA reaches a server using the certificate under the Service's
// DNS name, as the API server calls the webhook.
func TestGeneratedCertificateServesTheHostsUnderItsCA(t *testing.T) {
	t.Parallel()
	data, err := Generate(hosts, time.Now())
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(data[CAKey]))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, h := range hosts {
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: h},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
			},
		}}
		resp, err := client.Get("https://" + h + ":" + port + "/")
		require.NoError(t, err, h)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}

	other, err := Generate(hosts, time.Now())
	require.NoError(t, err)
	assert.NotEqual(t, data[CAKey], other[CAKey], "every CA is new")
}

func TestEnsureKeepsAUsableCertificateAndSaysWhyItReplacesOne(t *testing.T) {
	t.Parallel()
	now := time.Now()
	data, err := Generate(hosts, now)
	require.NoError(t, err)

	kept, reused, why, err := Ensure(data, hosts, now.Add(24*time.Hour))
	require.NoError(t, err)
	assert.True(t, reused)
	assert.Empty(t, why)
	assert.Equal(t, data, kept, "the next up applies the same Secret: nothing changes")

	fresh, reused, why, err := Ensure(nil, hosts, now)
	require.NoError(t, err)
	assert.False(t, reused)
	assert.Empty(t, why, "no Secret yet is not a problem to report")
	assert.NotEmpty(t, fresh[CAKey])

	other, err := Generate(hosts, now)
	require.NoError(t, err)
	tests := []struct {
		name string
		data map[string][]byte
		at   time.Time
		want string
	}{
		{"expiring", data, now.Add(Validity - Renew + time.Hour), "for another"},
		{"another host", data, now, ""},
		{"key of another certificate", map[string][]byte{CAKey: data[CAKey], CertKey: data[CertKey], KeyKey: other[KeyKey]}, now, "does not match"},
		{"signed by another CA", map[string][]byte{CAKey: other[CAKey], CertKey: data[CertKey], KeyKey: data[KeyKey]}, now, "unknown authority"},
		{"garbage", map[string][]byte{CAKey: []byte("x")}, now, "not a PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := hosts
			if tt.name == "another host" {
				want, tt.want = append([]string{"new-svc.ns.svc"}, hosts...), "new-svc.ns.svc"
			}
			out, reused, why, err := Ensure(tt.data, want, tt.at)
			require.NoError(t, err)
			assert.False(t, reused)
			assert.Contains(t, why, tt.want)
			assert.NotEqual(t, tt.data[CAKey], out[CAKey], "a new CA")
		})
	}
}
