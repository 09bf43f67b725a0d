package ingress

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Options are the ingress-nginx controller flags the stand-in honours. Any other flag
// ingress-nginx accepts is ignored, so a manifest written for the real controller works unchanged.
type Options struct {
	ElectionID                   string
	ControllerClass              string
	IngressClass                 string
	ConfigMap                    string // namespace/name
	WatchIngressWithoutClass     bool
	PublishStatusAddress         []string
	ValidatingWebhook            string // listen address, e.g. ":8443"; empty disables the webhook
	ValidatingWebhookCertificate string
	ValidatingWebhookKey         string
	HTTPPort                     int
	HTTPSPort                    int
	HealthzPort                  int
	Kubeconfig                   string // out-of-cluster runs only
}

// ParseArgs reads ingress-nginx style arguments. args excludes the program name. Unknown flags are
// skipped, whatever their form.
func ParseArgs(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := pflag.NewFlagSet("nginx-ingress-controller", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.StringVar(&o.ElectionID, "election-id", "ingress-controller-leader", "leader election id (read, unused: one replica)")
	fs.StringVar(&o.ControllerClass, "controller-class", "k8s.io/ingress-nginx", "IngressClass spec.controller this controller serves")
	fs.StringVar(&o.IngressClass, "ingress-class", "nginx", "IngressClass name / kubernetes.io/ingress.class annotation value")
	fs.StringVar(&o.ConfigMap, "configmap", "", "namespace/name of the controller ConfigMap")
	fs.BoolVar(&o.WatchIngressWithoutClass, "watch-ingress-without-class", false, "also serve Ingresses without a class")
	publish := fs.String("publish-status-address", "", "comma-separated addresses written to Ingress status")
	fs.StringVar(&o.ValidatingWebhook, "validating-webhook", "", "admission webhook listen address, e.g. :8443")
	fs.StringVar(&o.ValidatingWebhookCertificate, "validating-webhook-certificate", "", "webhook serving certificate (PEM)")
	fs.StringVar(&o.ValidatingWebhookKey, "validating-webhook-key", "", "webhook serving key (PEM)")
	fs.IntVar(&o.HTTPPort, "http-port", 80, "HTTP port")
	fs.IntVar(&o.HTTPSPort, "https-port", 443, "HTTPS port")
	fs.IntVar(&o.HealthzPort, "healthz-port", 10254, "port of /healthz")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for out-of-cluster runs")
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("parse flags: %w", err)
	}
	for _, a := range strings.Split(*publish, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.PublishStatusAddress = append(o.PublishStatusAddress, a)
		}
	}
	if o.ValidatingWebhook != "" && (o.ValidatingWebhookCertificate == "" || o.ValidatingWebhookKey == "") {
		return Options{}, fmt.Errorf("--validating-webhook needs --validating-webhook-certificate and --validating-webhook-key")
	}
	return o, nil
}
