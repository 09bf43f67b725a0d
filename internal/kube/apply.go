package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ApplyOptions change how Apply behaves.
type ApplyOptions struct {
	// DryRun asks the server to validate and default every object without persisting it (dryRun=All).
	DryRun bool
	// RetryWebhookErrors retries objects rejected because an admission webhook is unreachable or
	// not ready yet (connection refused, TLS not trusted yet, no endpoints), until ctx ends.
	// A webhook that answers and denies the object is never retried.
	RetryWebhookErrors bool
	// TakeOver applies over an existing object kindstack does not own (Owned), taking its fields
	// from their managers (--force). Without it such an object is refused with a *ForeignError,
	// and left as it is.
	TakeOver bool
}

// Stage is one apply stage. Objects of a stage are applied only after every earlier stage succeeded.
type Stage int

const (
	// StageClusterDefinitions holds Namespaces, CRDs and cluster-scoped RBAC: what later objects live in or refer to.
	StageClusterDefinitions Stage = iota
	// StageClasses holds *Class kinds (IngressClass, PriorityClass, StorageClass, ...) that workloads name.
	StageClasses
	// StageRest holds everything else.
	StageRest
)

// StageOf returns the stage an object is applied in.
func StageOf(u *unstructured.Unstructured) Stage {
	gvk := u.GroupVersionKind()
	return stageOfKind(gvk.Group, gvk.Kind)
}

func stageOfKind(group, kind string) Stage {
	switch {
	case group == "" && kind == "Namespace",
		group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition",
		group == "rbac.authorization.k8s.io" && (kind == "ClusterRole" || kind == "ClusterRoleBinding"):
		return StageClusterDefinitions
	case strings.HasSuffix(kind, "Class"):
		return StageClasses
	default:
		return StageRest
	}
}

// Stages groups objects by stage, keeping their order within a stage. Empty stages are left out.
func Stages(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	var byStage [StageRest + 1][]*unstructured.Unstructured
	for _, o := range objs {
		s := StageOf(o)
		byStage[s] = append(byStage[s], o)
	}
	var out [][]*unstructured.Unstructured
	for _, s := range byStage {
		if len(s) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// webhookRetryInterval bounds the pause between attempts to apply an object a webhook rejected.
const webhookRetryInterval = time.Second

// Apply applies objs server-side (field manager "kindstack", conflicts forced on the objects
// kindstack owns; one it does not own is refused unless opts.TakeOver) in stages: Namespaces,
// CRDs and cluster-scoped RBAC, then *Class kinds, then the rest. After CRDs are applied it waits for
// them to be established and refreshes its view of the server's kinds. Namespaced objects must carry
// their namespace; nothing is defaulted. Within a stage every object is attempted and all errors are
// returned together; later stages are not applied after an error. The input objects are not modified.
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts ApplyOptions) (ChangeSet, error) {
	for i, o := range objs {
		if err := checkIdentity(o); err != nil {
			return nil, fmt.Errorf("apply object %d: %w", i+1, err)
		}
	}
	var changes ChangeSet
	for _, stage := range Stages(objs) {
		var errs []error
		var crds []string
		for _, o := range stage {
			change, err := c.applyObject(ctx, o, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			changes = append(changes, change)
			if isCRD(o) {
				crds = append(crds, o.GetName())
			}
		}
		if err := errors.Join(errs...); err != nil {
			return changes, err
		}
		if len(crds) > 0 {
			if !opts.DryRun {
				if err := c.waitEstablished(ctx, crds); err != nil {
					return changes, err
				}
			}
			c.mapper.Reset()
		}
	}
	return changes, nil
}

func isCRD(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition"
}

// applyObject applies one object and reports what happened to it, retrying webhook errors if asked.
func (c *Client) applyObject(ctx context.Context, in *unstructured.Unstructured, opts ApplyOptions) (Change, error) {
	ref := RefOf(in)
	m, err := c.mapping(in.GroupVersionKind())
	if err != nil {
		return Change{}, fmt.Errorf("apply %s: %w", ref, err)
	}
	obj := in.DeepCopy()
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return Change{}, fmt.Errorf("apply %s: %s is namespaced but metadata.namespace is not set", ref, in.GetKind())
		}
	} else {
		obj.SetNamespace("")
	}
	ref = RefOf(obj)
	// Fields the server owns must not be sent: managedFields in an apply request is an error, and a
	// stale resourceVersion from a manifest would make the apply conflict (applyOnce sets the live one).
	obj.SetManagedFields(nil)
	obj.SetResourceVersion("")
	obj.SetUID("")
	obj.SetCreationTimestamp(metav1.Time{})
	obj.SetGeneration(0)

	start := time.Now()
	var change Change
	var webhookErr error
	err = wait.PollUntilContextCancel(ctx, webhookRetryInterval, true, func(ctx context.Context) (bool, error) {
		action, err := c.applyOnce(ctx, m, obj, opts)
		var foreign *ForeignError
		switch {
		case errors.As(err, &foreign):
			return false, err
		case err == nil:
			change = Change{Ref: ref, Action: action}
			return true, nil
		case isImmutableJob(obj, err) && !opts.DryRun:
			if err := c.replaceImmutableJob(ctx, m, obj); err != nil {
				return false, err
			}
			change = Change{Ref: ref, Action: Configured}
			return true, nil
		case opts.RetryWebhookErrors && IsWebhookUnavailable(err):
			webhookErr = err
			return false, nil
		case webhookErr != nil && endsWithContext(ctx, err):
			// While retrying a webhook error, a failure caused by ctx ending reports the webhook error.
			return false, nil
		}
		return false, err
	})
	switch {
	case err == nil:
		return change, nil
	case webhookErr != nil && ctx.Err() != nil:
		return Change{}, fmt.Errorf("apply %s: admission webhook still unavailable after %s, gave up (%w): %w",
			ref, time.Since(start).Round(time.Second), context.Cause(ctx), webhookErr)
	}
	return Change{}, fmt.Errorf("apply %s: %w", ref, err)
}

// endsWithContext reports whether err comes from ctx ending (or about to end: client-go's rate
// limiter refuses to wait past the deadline).
func endsWithContext(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), "would exceed context deadline")
}

// conditionalAttempts is how often applyOnce re-reads an object another writer changed between
// its read and its apply before it gives up telling "unchanged" from "configured" exactly.
const conditionalAttempts = 5

// applyOnce applies one object and says what the apply did. To tell "unchanged" from "configured"
// exactly, it reads the live object and applies with that resourceVersion as a precondition: a
// controller writing status in between makes the apply fail with a conflict (then it reads again)
// instead of being mistaken for a change kindstack made.
func (c *Client) applyOnce(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured, opts ApplyOptions) (Action, error) {
	ri := c.resource(m, obj.GetNamespace())
	dryRun := opts.DryRun
	applyOpts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		applyOpts.DryRun = []string{metav1.DryRunAll}
	}
	for attempt := 1; ; attempt++ {
		existing, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			existing = nil
		case err != nil:
			return "", fmt.Errorf("read current state: %w", err)
		}
		if existing != nil && !opts.TakeOver && !Owned(existing) {
			return "", &ForeignError{Objects: []Foreign{foreignOf(RefOf(existing), existing)}}
		}
		send := obj
		conditional := existing != nil && attempt <= conditionalAttempts
		if conditional {
			send = obj.DeepCopy()
			send.SetResourceVersion(existing.GetResourceVersion())
		}
		result, err := ri.Apply(ctx, obj.GetName(), send, applyOpts)
		if conditional && apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		return actionOf(existing, result, dryRun), nil
	}
}

// actionOf decides what an apply did. A real apply that changes nothing does not write, so the
// resourceVersion stays the same (the apply was conditional on it, so no one else wrote either).
// A write can still leave the content as it was: the first apply to an object created without
// field ownership only records who owns what. So, like a dry run, which never writes, a changed
// resourceVersion is judged by comparing the content, ignoring that bookkeeping.
func actionOf(before, after *unstructured.Unstructured, dryRun bool) Action {
	switch {
	case before == nil:
		return Created
	case !dryRun && before.GetResourceVersion() == after.GetResourceVersion():
		return Unchanged
	case equality.Semantic.DeepEqual(comparable(before), comparable(after)):
		return Unchanged
	}
	return Configured
}

func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	return c.Object
}

// IsWebhookUnavailable reports whether err says an admission webhook could not be reached or is not
// ready yet (as opposed to a webhook, or the API server, rejecting the object on its merits).
func IsWebhookUnavailable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed calling webhook") && !strings.Contains(msg, "failed to call webhook") {
		return false
	}
	// Every "failed calling webhook" is a delivery failure: connection refused, no endpoints, TLS
	// trust not established yet (x509), a timeout or a 5xx from a starting server. A webhook that
	// answered and said no reads "admission webhook ... denied the request" instead.
	return !strings.Contains(msg, "denied the request")
}

// waitEstablished waits until every named CRD is Established, so its kinds can be applied.
func (c *Client) waitEstablished(ctx context.Context, names []string) error {
	crds := c.dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	for _, name := range names {
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			u, err := crds.Get(ctx, name, metav1.GetOptions{})
			return err == nil && conditionTrue(u, "Established"), nil
		})
		if err != nil {
			return fmt.Errorf("wait for CustomResourceDefinition/%s to be established: %w", name, context.Cause(ctx))
		}
	}
	return nil
}

// conditionTrue reports whether status.conditions has the given type with status "True".
func conditionTrue(u *unstructured.Unstructured, condType string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	c := findCondition(conds, condType)
	return c != nil && c["status"] == "True"
}

// isImmutableJob reports an apply refused because it changes a Job's pod template, which the API
// never allows (e.g. a new image override for a certificate Job).
func isImmutableJob(obj *unstructured.Unstructured, err error) bool {
	return obj.GroupVersionKind().Group == "batch" && obj.GetKind() == "Job" &&
		apierrors.IsInvalid(err) && strings.Contains(err.Error(), "field is immutable")
}

// replaceImmutableJob deletes the Job with its pods, waits until it is gone, and applies the new one.
func (c *Client) replaceImmutableJob(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured) error {
	ri := c.resource(m, obj.GetNamespace())
	foreground := metav1.DeletePropagationForeground
	err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &foreground})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("replace Job with an immutable change: delete: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("replace Job with an immutable change: still deleting: %w", context.Cause(ctx))
	}
	_, err = ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("replace Job with an immutable change: %w", err)
	}
	return nil
}
