// Package conformance runs the Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance,
// at the version in go.mod) for the test bed. e2e/testbed/traefik.sh conformance builds this
// package into a test binary (go test -c); the e2e tests run it against a test bed cluster.
package conformance

import (
	"flag"
	"os"
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

// TestConformance hands the whole run to the suite, which takes its options from its own command
// line flags (-gateway-class, -conformance-profiles, -supported-features, -skip-tests,
// -report-output, -organization, -project, -url, -version, -contact, -cleanup-base-resources,
// -timeout-config-overrides, ...). The suite creates and deletes resources in the cluster it is
// given, so it never falls back to ~/.kube/config or an in-cluster config: the cluster must be
// named with -kubeconfig or $KUBECONFIG, or the test is skipped.
func TestConformance(t *testing.T) {
	explicit := os.Getenv("KUBECONFIG") != ""
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "kubeconfig" && f.Value.String() != "" {
			explicit = true
		}
	})
	if !explicit {
		t.Skip("name the cluster to test with -kubeconfig=FILE or KUBECONFIG: the suite changes that cluster")
	}
	conformance.RunConformance(t)
}
