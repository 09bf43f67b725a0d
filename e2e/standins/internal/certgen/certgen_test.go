package certgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The args of ingress-nginx's admission Jobs, with $(POD_NAMESPACE) expanded.
var (
	createArgs = []string{"create", "--host=ingress-nginx-controller-admission,ingress-nginx-controller-admission.ingress-nginx.svc",
		"--namespace=ingress-nginx", "--secret-name=ingress-nginx-admission"}
	patchArgs = []string{"patch", "--webhook-name=ingress-nginx-admission", "--namespace=ingress-nginx",
		"--patch-mutating=false", "--secret-name=ingress-nginx-admission", "--patch-failure-policy=Fail"}
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	o, err := ParseArgs(createArgs, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"ingress-nginx-controller-admission", "ingress-nginx-controller-admission.ingress-nginx.svc"}, o.Hosts)
	assert.Equal(t, "ingress-nginx-admission", o.SecretName)

	o, err = ParseArgs(append(patchArgs, "--log-level=debug"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ingress-nginx-admission", o.WebhookName)
	assert.True(t, o.PatchValidating)
	assert.False(t, o.PatchMutating)
	assert.Equal(t, "Fail", o.PatchFailurePolicy)

	for _, bad := range [][]string{nil, {"rotate"}, {"create", "--namespace=x", "--secret-name=s"}, {"patch", "--namespace=x", "--secret-name=s", "--webhook-name=w", "--patch-failure-policy=Maybe"}} {
		_, err := ParseArgs(bad, io.Discard)
		assert.Error(t, err, "%v", bad)
	}
}

func TestCreateThenPatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ignore := admissionregistrationv1.Ignore
	client := fake.NewClientset(&admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-admission"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "validate.nginx.ingress.kubernetes.io", FailurePolicy: &ignore},
			{Name: "second.example"},
		},
	})

	create, err := ParseArgs(createArgs, io.Discard)
	require.NoError(t, err)
	require.NoError(t, Run(ctx, client, create, quiet()))

	secret, err := client.CoreV1().Secrets("ingress-nginx").Get(ctx, "ingress-nginx-admission", metav1.GetOptions{})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"ca", "cert", "key"}, keys(secret.Data))

	// The serving certificate is valid for the webhook Service names and chains to the CA.
	_, err = tls.X509KeyPair(secret.Data["cert"], secret.Data["key"])
	require.NoError(t, err, "cert and key belong together")
	cert := parseCert(t, secret.Data["cert"])
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(secret.Data["ca"]))
	for _, host := range create.Hosts {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots})
		assert.NoError(t, err, host)
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: "other.svc", Roots: roots})
	assert.Error(t, err, "no SAN for other names")

	// A second create keeps the existing secret (the Job may run again).
	require.NoError(t, Run(ctx, client, create, quiet()))
	again, err := client.CoreV1().Secrets("ingress-nginx").Get(ctx, "ingress-nginx-admission", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, secret.Data, again.Data)

	patch, err := ParseArgs(patchArgs, io.Discard)
	require.NoError(t, err)
	require.NoError(t, Run(ctx, client, patch, quiet()))
	vwc, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "ingress-nginx-admission", metav1.GetOptions{})
	require.NoError(t, err)
	for _, w := range vwc.Webhooks {
		assert.Equal(t, secret.Data["ca"], w.ClientConfig.CABundle, w.Name)
		assert.Equal(t, ptr.To(admissionregistrationv1.Fail), w.FailurePolicy, w.Name)
	}
}

func TestPatchFailsWithoutSecretOrWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	patch, err := ParseArgs(patchArgs, io.Discard)
	require.NoError(t, err)

	err = Patch(ctx, fake.NewClientset(), patch, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "get secret ingress-nginx/ingress-nginx-admission")

	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-admission", Namespace: "ingress-nginx"},
		Data:       map[string][]byte{"ca": []byte("pem")},
	})
	err = Patch(ctx, client, patch, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "validatingwebhookconfiguration ingress-nginx-admission")
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}
