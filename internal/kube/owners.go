package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Foreign is an object kindstack would apply that exists already and is not kindstack's: applying
// it would take over fields another manager set (a user's kubectl, a GitOps controller, Helm).
type Foreign struct {
	Ref Ref
	// Managers are the field managers that wrote it (managedFields), e.g. "kubectl-client-side-apply".
	Managers []string
	// Labelled: it carries kindstack's managed-by label, although kindstack never wrote it (a
	// `kindstack render` applied by another tool).
	Labelled bool
}

// String names the object and who manages it, e.g.
// "ConfigMap kube-public/x (managed by kubectl-client-side-apply)".
func (f Foreign) String() string {
	who := "no field manager recorded"
	if len(f.Managers) > 0 {
		who = "managed by " + strings.Join(f.Managers, ", ")
	}
	if f.Labelled {
		who += "; labelled as kindstack's, but kindstack never applied it"
	}
	return f.Ref.String() + " (" + who + ")"
}

// ForeignError refuses to apply over objects kindstack does not own.
type ForeignError struct{ Objects []Foreign }

func (e *ForeignError) Error() string {
	names := make([]string, 0, len(e.Objects))
	for _, f := range e.Objects {
		names = append(names, f.String())
	}
	return fmt.Sprintf("%d objects kindstack would apply exist already and are not kindstack's: %s; "+
		"kindstack leaves them alone (delete or rename them, or pass --force to take them over)",
		len(e.Objects), strings.Join(names, "; "))
}

// Owned reports whether kindstack may apply over a live object: a field manager of kindstack's
// wrote it ("kindstack", or one named "kindstack-…" for fields kindstack sets apart), or no manager
// recorded any field of it (an object with nothing but a name, whose fields the server files
// under "before-first-apply" once it is applied again: there is nobody's field to take). Labels
// are only a claim: a `kindstack render` applied by another tool carries them too.
func Owned(live *unstructured.Unstructured) bool {
	others := false
	for _, e := range live.GetManagedFields() {
		switch {
		case isOurManager(e.Manager):
			return true
		case e.Manager != beforeFirstApply:
			others = true
		}
	}
	return !others
}

// beforeFirstApply is the manager the API server files fields under that no manager recorded.
const beforeFirstApply = "before-first-apply"

func isOurManager(m string) bool { return m == FieldManager || strings.HasPrefix(m, FieldManager+"-") }

// foreignOf describes a live object kindstack does not own.
func foreignOf(ref Ref, live *unstructured.Unstructured) Foreign {
	f := Foreign{Ref: ref, Labelled: live.GetLabels()[ManagedByLabel] == ManagedBy}
	for _, e := range live.GetManagedFields() {
		if !slices.Contains(f.Managers, e.Manager) {
			f.Managers = append(f.Managers, e.Manager)
		}
	}
	return f
}

// Foreign returns, in order, every object of objs that exists and is not kindstack's (Owned). It
// reads and changes nothing else. An object whose kind the server does not serve yet (its CRD is
// in objs) cannot exist and is skipped.
func (c *Client) Foreign(ctx context.Context, objs []*unstructured.Unstructured) ([]Foreign, error) {
	var out []Foreign
	var errs []error
	for _, o := range objs {
		m, err := c.mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("who owns %s: %w", RefOf(o), err))
			continue
		}
		ns := o.GetNamespace()
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ns = ""
		}
		live, err := c.resource(m, ns).Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("who owns %s: %w", RefOf(o), err))
			continue
		}
		if !Owned(live) {
			out = append(out, foreignOf(RefOf(live), live))
		}
	}
	return out, errors.Join(errs...)
}
