package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/kind/pkg/log"
)

// A record or marker speaks only for the node containers it names: a cluster made again under
// the same name (deleted outside kindstack, then `kind create cluster`) has other containers.
func TestARecordVouchesOnlyForTheContainersItRecorded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		recorded []string
		current  []string
		want     string // "" = deleted
	}{
		{name: "same containers", recorded: []string{"c0ffee"}, current: []string{"c0ffee"}},
		{name: "same name, other containers", recorded: []string{"c0ffee"}, current: []string{"deadbeef0123456789"},
			want: `cluster "kindstack" does not answer (cannot connect to the cluster: connection refused) and this machine's record of creating a cluster of that name does not speak for it ` +
				"(its node containers are not the ones recorded (deadbeef0123 is new), so the cluster was made again since), so kindstack leaves it alone; pass --force to delete it anyway"},
		{name: "a node added since", recorded: []string{"c0ffee"}, current: []string{"c0ffee", "f00d"}, want: "(f00d is new)"},
		{name: "a record from before kindstack named containers", current: []string{"c0ffee"},
			want: "it names no node container, so it cannot tell this cluster from another one that took the name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProvider{clusters: []string{"kindstack"}}
			m := testManager(t, nil, fakeRuntime{installed: dockerOnly, engineUp: true}, p, nil)
			m.Run = withNodeIDs(m.Run, tt.current...)
			// Its API does not answer (a stopped node): only the record can vouch for it.
			m.NewClient = func([]byte) (kubernetes.Interface, error) { return nil, errors.New("connection refused") }
			require.NoError(t, m.recordCreated(StoredSpec{Spec: Spec{Name: "kindstack"}}, tt.recorded))

			existed, err := m.Delete(context.Background(), DeleteOptions{Name: "kindstack", Kubeconfig: t.TempDir() + "/config"})
			if tt.want == "" {
				require.NoError(t, err)
				assert.True(t, existed)
				assert.Equal(t, []string{"kindstack"}, p.deleted)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, p.deleted, "a cluster the record does not speak for is left alone")
			_, recorded := m.recorded("kindstack")
			assert.True(t, recorded, "and so is the record")

			_, err = m.Delete(context.Background(), DeleteOptions{Name: "kindstack", Kubeconfig: t.TempDir() + "/config", Force: true})
			require.NoError(t, err)
			assert.Equal(t, []string{"kindstack"}, p.deleted, "--force still deletes it")
		})
	}
}

func TestUpDeletesAHalfCreatedClusterOnlyWhenTheMarkerNamesItsContainers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		marked     []string
		current    []string
		wantDelete bool
		wantMarker bool   // the marker is still there afterwards
		want       string // in the warning (or the error, when wantErr)
		wantErr    bool
	}{
		{name: "marker names the containers", marked: []string{"c0ffee"}, current: []string{"c0ffee"}, wantDelete: true,
			want: `cluster "kindstack" was left half-created by an interrupted kindstack (pid `},
		{name: "marker names other containers", marked: []string{"c0ffee"}, current: []string{"deadbeef"},
			want: "its node containers are not the ones recorded (deadbeef is new), so the cluster was made again since; the marker is dropped and the cluster left alone"},
		{name: "marker names no container", current: []string{"c0ffee"}, wantMarker: true, wantErr: true,
			want: "its marker it names no node container, so it cannot tell this cluster from another one that took the name; kindstack leaves it alone: `kindstack down --force --name kindstack` deletes it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &orphanedProvider{fakeProvider: fakeProvider{clusters: []string{"kindstack"}}}
			// The cluster that has the name now is not kindstack's: its API answers without a stored spec.
			m := testManager(t, nil, fakeRuntime{}, &p.fakeProvider, fake.NewClientset())
			m.Run = withNodeIDs(func(context.Context, string, ...string) ([]byte, error) { return nil, errors.New("exit status 1") }, tt.current...)
			m.NewProvider = func(Runtime, log.Logger) Provider { return p }
			require.NoError(t, m.markCreatingNodes("kindstack", tt.marked))
			var warnings []string
			_, err := m.Ensure(context.Background(), EnsureOptions{Spec: Spec{Name: "kindstack"}, Kubeconfig: t.TempDir() + "/config",
				Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }})
			require.Error(t, err, "the unit tier creates no cluster, and reuses none kindstack did not make")
			if tt.wantDelete {
				assert.Contains(t, p.deleted, "kindstack")
			} else {
				assert.Empty(t, p.deleted, "a cluster the marker does not name is never deleted by up")
			}
			if tt.wantErr {
				assert.Contains(t, err.Error(), tt.want)
			} else {
				require.Len(t, warnings, 1)
				assert.Contains(t, warnings[0], tt.want)
			}
			_, half := m.halfCreated("kindstack")
			assert.Equal(t, tt.wantMarker, half)
		})
	}
}
