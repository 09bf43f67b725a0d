package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/kindstack/kindstack/internal/config"
)

// contextFlags are --context and --ingress-class, on the commands that act on a cluster
// kindstack did not create.
func contextFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: flagContext, Usage: "act on the cluster of this kubeconfig context (from --kubeconfig, else $KUBECONFIG, else ~/.kube/config), " +
			"which kindstack did not create: nothing is created and the kubeconfig is only read; what the cluster has (a metrics API) is used; down removes only what kindstack installed"},
		&ucli.StringFlag{Name: flagIngressClass, Usage: "with --context: an IngressClass of that cluster whose controller serves the ingress, so kindstack installs none (give it to status too)"},
	}
}

// kindOnlyFlags are the flags that set up the kind cluster kindstack creates: with --context they
// would silently do nothing.
var kindOnlyFlags = []string{flagImage, flagListenAddress, flagHTTPPort, flagHTTPSPort, flagBundle, flagRetain,
	flagRestart, flagKeepContext, flagMirror, flagInsecure, flagPreload, flagWorkers}

// contextSettings applies --context, refusing the flags that only a kind cluster kindstack creates
// takes. A name from KINDSTACK_CLUSTER_NAME is not an error: it is for the commands without --context.
func (a *app) contextSettings(c *ucli.Context, s config.Settings) (config.Settings, error) {
	cc, ok := setIn(c, flagContext)
	if ic, set := setIn(c, flagIngressClass); set {
		s.IngressClass = ic.String(flagIngressClass)
		if !ok {
			return s, fmt.Errorf("--ingress-class names an IngressClass of the cluster --context names; a kind cluster kindstack creates gets its own ingress controller")
		}
	}
	if !ok {
		return s, nil
	}
	s.Context = cc.String(flagContext)
	if s.Context == "" {
		return s, usagef("--context is empty: name a context of the kubeconfig (`kubectl config get-contexts`)")
	}
	var given []string
	for _, name := range kindOnlyFlags {
		if _, set := setIn(c, name); set {
			given = append(given, "--"+name)
		}
	}
	if nc, set := setIn(c, flagName); set && nc.String(flagName) != a.opts.Getenv("KINDSTACK_CLUSTER_NAME") {
		given = append(given, "--"+flagName)
	}
	if len(given) > 0 {
		return s, fmt.Errorf("%s %s for the kind cluster kindstack creates, but --context %s names a cluster kindstack did not create; drop %s",
			strings.Join(given, ", "), pluralIs(len(given)), s.Context, pronoun(len(given)))
	}
	return s, nil
}

func pluralIs(n int) string {
	if n == 1 {
		return "is a setting"
	}
	return "are settings"
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
