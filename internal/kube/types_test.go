package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChangeSet(t *testing.T) {
	t.Parallel()
	change := func(a Action) Change { return Change{Ref: Ref{Kind: "ConfigMap", Name: "x"}, Action: a} }
	tests := []struct {
		name        string
		set         ChangeSet
		wantString  string
		wantChanged bool
	}{
		{"empty", nil, "nothing to apply", false},
		{"second run", ChangeSet{change(Unchanged), change(Unchanged)}, "2 unchanged", false},
		{"mixed, always in created-configured-unchanged order",
			ChangeSet{change(Unchanged), change(Configured), change(Created), change(Created)},
			"2 created, 1 configured, 1 unchanged", true},
		{"only configured", ChangeSet{change(Configured)}, "1 configured", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.wantString, tt.set.String())
			assert.Equal(t, tt.wantChanged, tt.set.Changed())
		})
	}
}

func TestRefString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Deployment/example/web", Ref{Group: "apps", Kind: "Deployment", Namespace: "example", Name: "web"}.String())
	assert.Equal(t, "ClusterRole/view", Ref{Kind: "ClusterRole", Name: "view"}.String())
}
