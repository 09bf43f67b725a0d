// Package certgen stands in for ingress-nginx's kube-webhook-certgen: "create" makes a CA and a
// serving certificate for the admission webhook and stores them in a Secret, "patch" puts the CA
// into the webhook configuration's caBundle and sets its failurePolicy.
package certgen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kindstack/kindstack/e2e/standins/internal/tlsutil"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Options are kube-webhook-certgen's flags that matter here.
type Options struct {
	Command            string // "create" or "patch"
	Hosts              []string
	Namespace          string
	SecretName         string
	CertName           string
	KeyName            string
	CAName             string
	WebhookName        string
	PatchValidating    bool
	PatchMutating      bool
	PatchFailurePolicy string
	Kubeconfig         string
}

// ParseArgs reads `create ...` or `patch ...` (args exclude the program name). Unknown flags are
// ignored, like the stand-in controller does.
func ParseArgs(args []string, stderr io.Writer) (Options, error) {
	if len(args) == 0 || (args[0] != "create" && args[0] != "patch") {
		return Options{}, fmt.Errorf("usage: kube-webhook-certgen create|patch [flags]")
	}
	o := Options{Command: args[0]}
	fs := pflag.NewFlagSet("kube-webhook-certgen "+args[0], pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	host := fs.String("host", "", "comma-separated host names for the certificate")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace of the secret")
	fs.StringVar(&o.SecretName, "secret-name", "", "name of the secret")
	fs.StringVar(&o.CertName, "cert-name", "cert", "secret key of the certificate")
	fs.StringVar(&o.KeyName, "key-name", "key", "secret key of the private key")
	fs.StringVar(&o.CAName, "ca-name", "ca", "secret key of the CA certificate")
	fs.StringVar(&o.WebhookName, "webhook-name", "", "name of the webhook configurations to patch")
	fs.BoolVar(&o.PatchValidating, "patch-validating", true, "patch the ValidatingWebhookConfiguration")
	fs.BoolVar(&o.PatchMutating, "patch-mutating", true, "patch the MutatingWebhookConfiguration")
	fs.StringVar(&o.PatchFailurePolicy, "patch-failure-policy", "", "failurePolicy to set (Fail or Ignore)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for out-of-cluster runs")
	if err := fs.Parse(args[1:]); err != nil {
		return Options{}, fmt.Errorf("parse flags: %w", err)
	}
	for _, h := range strings.Split(*host, ",") {
		if h = strings.TrimSpace(h); h != "" {
			o.Hosts = append(o.Hosts, h)
		}
	}
	var missing []string
	if o.Namespace == "" {
		missing = append(missing, "--namespace")
	}
	if o.SecretName == "" {
		missing = append(missing, "--secret-name")
	}
	if o.Command == "create" && len(o.Hosts) == 0 {
		missing = append(missing, "--host")
	}
	if o.Command == "patch" && o.WebhookName == "" {
		missing = append(missing, "--webhook-name")
	}
	switch o.PatchFailurePolicy {
	case "", string(admissionregistrationv1.Fail), string(admissionregistrationv1.Ignore):
	default:
		return Options{}, fmt.Errorf("--patch-failure-policy %q: want Fail or Ignore", o.PatchFailurePolicy)
	}
	if len(missing) > 0 {
		return Options{}, fmt.Errorf("%s: missing %s", o.Command, strings.Join(missing, ", "))
	}
	return o, nil
}

// Run executes the command.
func Run(ctx context.Context, client kubernetes.Interface, o Options, log *slog.Logger) error {
	if o.Command == "create" {
		return Create(ctx, client, o, log)
	}
	return Patch(ctx, client, o, log)
}

// Create makes the Secret unless it exists already (then the existing certificate is kept, as
// kube-webhook-certgen does).
func Create(ctx context.Context, client kubernetes.Interface, o Options, log *slog.Logger) error {
	secrets := client.CoreV1().Secrets(o.Namespace)
	if _, err := secrets.Get(ctx, o.SecretName, metav1.GetOptions{}); err == nil {
		log.Info("secret already exists, keeping it", "secret", o.Namespace+"/"+o.SecretName)
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret %s/%s: %w", o.Namespace, o.SecretName, err)
	}
	b, err := tlsutil.NewBundle(o.Hosts, time.Now())
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: o.SecretName, Namespace: o.Namespace},
		Data:       map[string][]byte{o.CAName: b.CA, o.CertName: b.Cert, o.KeyName: b.Key},
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			log.Info("secret created concurrently, keeping it", "secret", o.Namespace+"/"+o.SecretName)
			return nil
		}
		return fmt.Errorf("create secret %s/%s: %w", o.Namespace, o.SecretName, err)
	}
	log.Info("created secret", "secret", o.Namespace+"/"+o.SecretName, "hosts", o.Hosts)
	return nil
}

// Patch sets caBundle (from the Secret's CA) and, when asked, failurePolicy on every webhook of the
// named webhook configurations. It uses get + update, the verbs ingress-nginx's RBAC grants.
func Patch(ctx context.Context, client kubernetes.Interface, o Options, log *slog.Logger) error {
	secret, err := client.CoreV1().Secrets(o.Namespace).Get(ctx, o.SecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", o.Namespace, o.SecretName, err)
	}
	ca := secret.Data[o.CAName]
	if len(ca) == 0 {
		return fmt.Errorf("secret %s/%s has no %q key", o.Namespace, o.SecretName, o.CAName)
	}
	policy := admissionregistrationv1.FailurePolicyType(o.PatchFailurePolicy)
	if o.PatchValidating {
		api := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
		vwc, err := api.Get(ctx, o.WebhookName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get validatingwebhookconfiguration %s: %w", o.WebhookName, err)
		}
		for i := range vwc.Webhooks {
			vwc.Webhooks[i].ClientConfig.CABundle = ca
			if policy != "" {
				vwc.Webhooks[i].FailurePolicy = &policy
			}
		}
		if _, err := api.Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update validatingwebhookconfiguration %s: %w", o.WebhookName, err)
		}
		log.Info("patched validatingwebhookconfiguration", "name", o.WebhookName, "webhooks", len(vwc.Webhooks))
	}
	if o.PatchMutating {
		api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
		mwc, err := api.Get(ctx, o.WebhookName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get mutatingwebhookconfiguration %s: %w", o.WebhookName, err)
		}
		for i := range mwc.Webhooks {
			mwc.Webhooks[i].ClientConfig.CABundle = ca
			if policy != "" {
				mwc.Webhooks[i].FailurePolicy = &policy
			}
		}
		if _, err := api.Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update mutatingwebhookconfiguration %s: %w", o.WebhookName, err)
		}
		log.Info("patched mutatingwebhookconfiguration", "name", o.WebhookName, "webhooks", len(mwc.Webhooks))
	}
	return nil
}
