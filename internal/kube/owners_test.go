package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestOwnedGoesByWhoWroteItNotByItsLabels(t *testing.T) {
	t.Parallel()
	obj := func(labelled bool, managers ...string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("ConfigMap")
		u.SetNamespace("kube-public")
		u.SetName("x")
		if labelled {
			u.SetLabels(map[string]string{ManagedByLabel: ManagedBy})
		}
		var mf []metav1.ManagedFieldsEntry
		for _, m := range managers {
			mf = append(mf, metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationApply})
		}
		u.SetManagedFields(mf)
		return u
	}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want bool
	}{
		{"applied by kindstack", obj(true, "kindstack"), true},
		{"applied by kindstack, scaled by kubectl since", obj(true, "kindstack", "kubectl-scale"), true},
		{"a field kindstack sets apart", obj(false, "kindstack-expose"), true},
		{"made with kubectl", obj(false, "kubectl-client-side-apply"), false},
		{"kindstack's render applied by another tool", obj(true, "argocd-controller"), false},
		{"a manager that only starts like kindstack's", obj(true, "kindstackish"), false},
		{"no managedFields, labelled", obj(true), true},
		{"fields nobody recorded, applied again", obj(false, "before-first-apply"), true},
		{"no managedFields, not labelled: nobody's fields to take", obj(false), true},
	} {
		assert.Equal(t, tc.want, Owned(tc.obj), tc.name)
	}
	f := foreignOf(RefOf(obj(true, "argocd-controller", "argocd-controller", "kubectl-edit")), obj(true, "argocd-controller", "argocd-controller", "kubectl-edit"))
	assert.Equal(t, "ConfigMap/kube-public/x (managed by argocd-controller, kubectl-edit; labelled as kindstack's, but kindstack never applied it)", f.String())
	err := &ForeignError{Objects: []Foreign{f, foreignOf(RefOf(obj(false)), obj(false))}}
	// (a ForeignError lists only objects Owned refused; the second shows the wording without managers)
	assert.Equal(t, "2 objects kindstack would apply exist already and are not kindstack's: "+
		"ConfigMap/kube-public/x (managed by argocd-controller, kubectl-edit; labelled as kindstack's, but kindstack never applied it); "+
		"ConfigMap/kube-public/x (no field manager recorded); kindstack leaves them alone (delete or rename them, or pass --force to take them over)", err.Error())
}
