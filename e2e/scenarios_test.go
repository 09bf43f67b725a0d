//go:build e2e

package e2e

import (
	"os"
	"testing"
)

// The scenarios: what a user does with a kindstack cluster, one test each. Each states its
// precondition through the shared fixture (fixture_test.go), so it runs alone, from nothing or on
// a kept cluster:
//
//	go test -tags e2e -count=1 -v -run '^TestSwitchToTraefikKeepsTheData$' ./e2e/
//
// Go runs top-level tests in source order (files sorted by name), so the order here is the order
// of a whole run: each scenario's precondition is the state the one before leaves, and the fixture
// only looks. A new scenario goes where the state it needs is left, in this file.

func TestCtrlCDuringCreateLeavesNothing(t *testing.T) {
	testInterruptDuringCreate(t, shared.Absent(t))
}

// Leaves a half-made cluster.
func TestKillDuringCreateLeavesAHalfMadeCluster(t *testing.T) {
	testKillDuringCreate(t, shared.Absent(t))
}

func TestUpRecoversAHalfMadeCluster(t *testing.T) {
	testUpFromNothing(t, shared.HalfMade(t))
}

func TestUpAgainChangesNothing(t *testing.T) {
	w := shared.Ready(t, nginxStack)
	testUpAgain(t, w, shared.Row(t, w))
}

func TestTwoUpsAtOnceBothSucceed(t *testing.T) {
	testTwoUpsAtOnce(t, shared.Ready(t, nginxStack))
}

func TestStatusSaysWhatIsBrokenAndUpRepairsIt(t *testing.T) {
	testStatusAndRepair(t, shared.Ready(t, nginxStack))
}

// up --no-example prunes the example (and a Ctrl-C while its images load keeps the cluster); a
// full up brings it back.
func TestUpNoExamplePrunesTheExample(t *testing.T) {
	testPruneExample(t, shared.Ready(t, nginxStack))
}

func TestMissingImageFailsWithThePullError(t *testing.T) {
	testMissingImage(t, shared.Ready(t, nginxStack))
}

// A stopped node: status says so, up says what to run, up --restart brings it back.
func TestStoppedNodeUpRestartBringsItBack(t *testing.T) {
	testStoppedNode(t, shared.Ready(t, nginxStack))
}

// A developer's own image, in no registry: `kindstack load` puts it into the node and a pod that
// may not pull runs it; bad input is one sentence and exit 1.
func TestLoadYourOwnImage(t *testing.T) {
	testLoad(t, shared.Ready(t, nginxStack))
}

// Your own apps: an image built here and loaded, a Kustomization and a Helm chart installed as
// apps and smoke-tested, the chart upgraded by a value, an app pruned and nothing else with it.
func TestYourOwnApps(t *testing.T) {
	w := shared.Ready(t, nginxStack)
	testYourOwnApps(t, w, shared.Row(t, w))
}

// The developer's loop through kindstack's local registry: build, push to localhost:<port>, run,
// answer through the ingress; the KEP-1755 ConfigMap; the registry's contents survive recreate; an
// up without it prunes it from the cluster. Leaves the nginx stack, and the registry holding the app.
func TestYourAppThroughTheLocalRegistry(t *testing.T) {
	testLocalRegistry(t, shared.Ready(t, nginxStack))
}

// Leaves the Traefik stack.
func TestSwitchToTraefikKeepsTheData(t *testing.T) {
	w := shared.Ready(t, nginxStack)
	testSwitchToTraefik(t, w, shared.Row(t, w))
}

func TestUpAgainChangesNothingOnTraefik(t *testing.T) {
	w := shared.Ready(t, traefikStack)
	testUpAgain(t, w, shared.Row(t, w))
}

func TestStatusSaysWhatIsBrokenAndUpRepairsItOnTraefik(t *testing.T) {
	testStatusAndRepair(t, shared.Ready(t, traefikStack))
}

// Leaves the example routed by an HTTPRoute.
func TestExampleThroughAnHTTPRoute(t *testing.T) {
	w := shared.Ready(t, traefikStack)
	testHTTPRoute(t, w, shared.Row(t, w))
}

// The Gateway API conformance suite (GATEWAY-HTTP) against kindstack's Traefik; it runs without
// the example, so how the example was routed does not matter. Leaves it routed by its Ingress.
func TestGatewayAPIConformance(t *testing.T) {
	s := traefikStack
	s.anyRoute = true
	testConformance(t, shared.Ready(t, s))
}

// Leaves the nginx stack.
func TestSwitchBackToNginxKeepsTheDataAndTheUsersRoutes(t *testing.T) {
	w := shared.Ready(t, traefikStack)
	testSwitchBackToNginx(t, w, shared.Row(t, w))
}

// Leaves no cluster.
func TestUpAndDownAtOnce(t *testing.T) {
	testUpAndDownAtOnce(t, shared.Ready(t, nginxStack))
}

// Recreate from nothing with Traefik, every image through a registry mirror. Leaves the mirrored
// stack.
func TestRecreateThroughARegistryMirror(t *testing.T) {
	testRecreateThroughMirror(t, shared.Absent(t))
}

// An image on no mirror fails up within a minute, saying what the mirror answered. Leaves the
// stack broken.
func TestMirrorMissFailsFast(t *testing.T) {
	requireTestbed(t, "no mirror to miss")
	testMirrorMissFailsFast(t, shared.Ready(t, mirroredStack))
}

// images save, down, no registry: up --bundle pulls nothing. Leaves a stack whose images only its
// node holds.
func TestUpFromABundleWithoutARegistry(t *testing.T) {
	requireTestbed(t, "no registry to save from")
	testBundle(t, shared.Absent(t))
}

// No registry: recreate keeps the images the node held.
func TestRecreateKeepsTheNodesImages(t *testing.T) {
	requireTestbed(t, "no registry to stop")
	testRecreateKeepsTheNodesImages(t, shared.ImagesOnlyInNode(t))
}

// Leaves no cluster.
func TestDown(t *testing.T) {
	testDown(t, shared.Exists(t))
}

// A cluster kindstack made, deleted outside it and made again by kind under the same name: down
// refuses it, also with its node stopped, where only this machine's record could speak. Leaves no
// cluster.
func TestAClusterMadeAgainByKindIsNotKindstacks(t *testing.T) {
	testRecordDoesNotSpeakForAClusterMadeAgain(t, shared.Exists(t))
}

// down keeps the registry and what was pushed to it; `kindstack registry rm` removes both.
func TestDownKeepsTheLocalRegistryAndRegistryRmRemovesIt(t *testing.T) {
	requireTestbed(t, "the registry image is the test bed's build")
	w, port := shared.RegistryHoldsTheApp(t)
	testDownKeepsTheRegistry(t, w, port)
}

// A 1+2 cluster of its own (after the shared cluster is gone: the machine holds one at a time):
// the ingress on the control plane, the example over both workers. Deletes it at the end.
func TestMultiNodeClusterSpreadsTheExample(t *testing.T) {
	testMultiNode(t)
}

// requireTestbed skips a scenario that needs the air-gapped test bed's registry when the tests run
// elsewhere (a GitHub runner: KINDSTACK_E2E_CONFIG unset).
func requireTestbed(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("KINDSTACK_E2E_CONFIG") == "" {
		t.Skip("SKIPPED: no air-gapped test bed (KINDSTACK_E2E_CONFIG unset): " + why)
	}
}
