package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Labels on every object kindstack applies: who manages it, and for which component.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "kindstack"
	ComponentLabel = "kindstack.dev/component"
)

// Where inventories are kept: one ConfigMap per component in InventoryNamespace, named
// InventoryPrefix+component and labelled inventoryLabel=component.
const (
	InventoryNamespace = "kube-public"
	InventoryPrefix    = "kindstack-inventory-"
	inventoryLabel     = "kindstack.dev/inventory"
	inventoryKey       = "objects"
)

// Inventory maps each component to the objects kindstack applied for it. It is what a later `up`
// compares with what it wants, to prune what is no longer wanted and nothing else.
type Inventory map[string][]Ref

// RefsOf returns the Ref of each object, in order.
func RefsOf(objs []*unstructured.Unstructured) []Ref {
	refs := make([]Ref, 0, len(objs))
	for _, o := range objs {
		refs = append(refs, RefOf(o))
	}
	return refs
}

// Unwanted returns every recorded object that is not in want, by component (sorted by name), so
// an object that moved from one component to another is kept.
func (inv Inventory) Unwanted(want []Ref) []Ref {
	keep := map[Ref]bool{}
	for _, r := range want {
		keep[r] = true
	}
	var out []Ref
	seen := map[Ref]bool{}
	for _, comp := range inv.components() {
		for _, r := range inv[comp] {
			if !keep[r] && !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

func (inv Inventory) components() []string {
	names := make([]string, 0, len(inv))
	for n := range inv {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadInventory returns what earlier runs recorded; empty on a cluster kindstack never installed on.
func (c *Client) ReadInventory(ctx context.Context) (Inventory, error) {
	list, err := c.kube.CoreV1().ConfigMaps(InventoryNamespace).List(ctx, metav1.ListOptions{LabelSelector: inventoryLabel})
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	inv := Inventory{}
	for _, cm := range list.Items {
		var refs []Ref
		if err := json.Unmarshal([]byte(cm.Data[inventoryKey]), &refs); err != nil {
			return nil, fmt.Errorf("inventory %s/%s is not valid: %w", cm.Namespace, cm.Name, err)
		}
		inv[cm.Labels[inventoryLabel]] = refs
	}
	return inv, nil
}

// RecordInventory stores the objects of one component, replacing what was recorded for it.
func (c *Client) RecordInventory(ctx context.Context, component string, refs []Ref) error {
	data, err := json.Marshal(refs)
	if err != nil {
		return fmt.Errorf("encode inventory of %s: %w", component, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: InventoryNamespace, Name: InventoryPrefix + component,
			Labels: map[string]string{ManagedByLabel: ManagedBy, inventoryLabel: component}},
		Data: map[string]string{inventoryKey: string(data)},
	}
	cms := c.kube.CoreV1().ConfigMaps(InventoryNamespace)
	_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		return fmt.Errorf("record inventory of %s: %w", component, err)
	}
	return nil
}

// ForgetInventory removes a component's record, once its objects are gone.
func (c *Client) ForgetInventory(ctx context.Context, component string) error {
	err := c.kube.CoreV1().ConfigMaps(InventoryNamespace).Delete(ctx, InventoryPrefix+component, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("forget inventory of %s: %w", component, err)
	}
	return nil
}

// PruneResult says what Prune did with each object.
type PruneResult struct {
	Deleted   []Ref // deleted and gone
	Absent    []Ref // already gone
	LeftAlone []Ref // exists but is not labelled as kindstack's: someone else owns it now
	InUse     []Ref // a CRD kept because objects kindstack did not create use it
}

// String says it in a few words, e.g. "12 deleted, 1 left alone (not kindstack's)".
func (r PruneResult) String() string {
	var parts []string
	if n := len(r.Deleted); n > 0 {
		parts = append(parts, fmt.Sprintf("%d deleted", n))
	}
	if n := len(r.Absent); n > 0 {
		parts = append(parts, fmt.Sprintf("%d already gone", n))
	}
	if n := len(r.LeftAlone); n > 0 {
		parts = append(parts, fmt.Sprintf("%d left alone (not kindstack's)", n))
	}
	if n := len(r.InUse); n > 0 {
		parts = append(parts, fmt.Sprintf("%d CRDs kept (objects of yours use them)", n))
	}
	if len(parts) == 0 {
		return "nothing to prune"
	}
	return strings.Join(parts, ", ")
}

// pruneInterval is how often Prune looks whether deleted objects are gone; pruneWait bounds how
// long one stage may take to be gone (a namespace that cannot finish terminating says why).
const (
	pruneInterval = 500 * time.Millisecond
	pruneWait     = 3 * time.Minute
)

// Prune deletes the objects in reverse apply order (the rest, then *Class kinds, then Namespaces,
// CRDs and cluster-scoped RBAC), waiting for each stage to be gone before the next. An object is
// deleted only if it still carries kindstack's managed-by label: whatever kindstack did not
// create, or someone has taken over, is left alone.
func (c *Client) Prune(ctx context.Context, refs []Ref) (PruneResult, error) {
	var res PruneResult
	var byStage [StageRest + 1][]Ref
	for _, r := range refs {
		s := stageOfKind(r.Group, r.Kind)
		byStage[s] = append(byStage[s], r)
	}
	for s := StageRest; s >= StageClusterDefinitions; s-- {
		var deleted []Ref
		var errs []error
		for _, r := range byStage[s] {
			ri, err := c.resourceFor(r)
			if meta.IsNoMatchError(err) {
				res.Absent = append(res.Absent, r) // its kind is gone with its CRD, and so is it
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("prune %s: %w", r, err))
				continue
			}
			outcome, err := c.deleteManaged(ctx, ri, r)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("prune %s: %w", r, err))
			case outcome == pruneAbsent:
				res.Absent = append(res.Absent, r)
			case outcome == pruneLeftAlone:
				res.LeftAlone = append(res.LeftAlone, r)
			case outcome == pruneInUse:
				res.InUse = append(res.InUse, r)
			default:
				deleted = append(deleted, r)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
		if err := c.waitGone(ctx, deleted); err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, deleted...)
	}
	return res, nil
}

type pruneOutcome int

const (
	pruneDeleted pruneOutcome = iota
	pruneAbsent
	pruneLeftAlone
	pruneInUse
)

// customResourcesNotOurs reports whether objects of the CRD's kind exist that kindstack did not
// create: deleting the CRD would delete them (a user's HTTPRoutes, say).
func (c *Client) customResourcesNotOurs(ctx context.Context, crd *unstructured.Unstructured) (bool, error) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, raw := range versions {
		v, _ := raw.(map[string]any)
		if served, _ := v["served"].(bool); !served {
			continue
		}
		name, _ := v["name"].(string)
		gvr := schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
		list, err := c.dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: ManagedByLabel + "!=" + ManagedBy, Limit: 1})
		if err != nil {
			return false, fmt.Errorf("list %s to see whether the CRD is in use: %w", gvr.GroupResource(), err)
		}
		return len(list.Items) > 0, nil
	}
	return false, nil
}

func (c *Client) deleteManaged(ctx context.Context, ri dynamic.ResourceInterface, r Ref) (pruneOutcome, error) {
	live, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return pruneAbsent, nil
	}
	if err != nil {
		return 0, err
	}
	if live.GetLabels()[ManagedByLabel] != ManagedBy {
		return pruneLeftAlone, nil
	}
	if r.Group == "apiextensions.k8s.io" && r.Kind == "CustomResourceDefinition" {
		inUse, err := c.customResourcesNotOurs(ctx, live)
		if err != nil {
			return 0, err
		}
		if inUse {
			return pruneInUse, nil
		}
	}
	background := metav1.DeletePropagationBackground
	// The UID precondition makes sure the object deleted is the one just checked.
	uid := live.GetUID()
	err = ri.Delete(ctx, r.Name, metav1.DeleteOptions{PropagationPolicy: &background, Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return pruneAbsent, nil
	}
	return pruneDeleted, err
}

// waitGone polls until none of refs exists. When ctx ends first, the error names each object
// still there and what holds it (its finalizers).
func (c *Client) waitGone(ctx context.Context, refs []Ref) error {
	ctx, cancel := context.WithTimeout(ctx, pruneWait)
	defer cancel()
	pending := slices.Clone(refs)
	var holds []string
	var failed error // a ref that cannot be mapped: waiting does not help
	err := wait.PollUntilContextCancel(ctx, pruneInterval, true, func(ctx context.Context) (bool, error) {
		var still []Ref
		holds = nil
		for _, r := range pending {
			ri, err := c.resourceFor(r)
			if meta.IsNoMatchError(err) {
				continue
			}
			if err != nil {
				failed = fmt.Errorf("prune %s: %w", r, err)
				return false, failed
			}
			live, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			still = append(still, r)
			if err != nil {
				holds = append(holds, fmt.Sprintf("%s: cannot read it: %v", r, err))
			} else {
				holds = append(holds, fmt.Sprintf("%s: still there (finalizers: %s)%s", r, strings.Join(live.GetFinalizers(), ", "), terminationTrouble(live)))
			}
		}
		pending = still
		return len(still) == 0, nil
	})
	switch {
	case err == nil:
		return nil
	case failed != nil:
		return failed
	}
	return fmt.Errorf("prune: %d objects not gone (%w): %s", len(pending), context.Cause(ctx), strings.Join(holds, "; "))
}

// resourceFor maps a Ref (which carries no version) to its resource in the server's preferred version.
func (c *Client) resourceFor(r Ref) (dynamic.ResourceInterface, error) {
	m, err := c.mapper.RESTMapping(schema.GroupKind{Group: r.Group, Kind: r.Kind})
	if err != nil {
		return nil, err
	}
	return c.resource(m, r.Namespace), nil
}

// terminationTrouble returns what a terminating object's true conditions say, e.g. a namespace
// whose deletion waits for an aggregated API that does not answer (NamespaceDeletionDiscoveryFailure).
func terminationTrouble(live *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	var out []string
	for _, raw := range conds {
		c, ok := raw.(map[string]any)
		if !ok || c["status"] != "True" {
			continue
		}
		out = append(out, fmt.Sprintf("%v: %v", c["type"], clip(fmt.Sprint(c["message"]))))
	}
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, "; ")
}
