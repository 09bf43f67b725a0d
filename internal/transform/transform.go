// Package transform holds the small, named changes kindstack makes to decoded manifests before
// applying them: image overrides (with their pull policy), node selectors, extra container args and
// the labels that mark an object as kindstack's.
//
// A transform is a Func applied to one object; Apply runs several over a set of objects. Each Func
// ignores objects it is not about, so a list of transforms can be run over everything at once.
package transform

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Func changes one object in place. It returns an error when the object cannot be changed as asked.
type Func func(*unstructured.Unstructured) error

// Apply runs every fn over every object, in order. It returns all failures joined, each naming its object.
func Apply(objs []*unstructured.Unstructured, fns ...Func) error {
	var errs []error
	for _, u := range objs {
		for _, fn := range fns {
			if err := fn(u); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", describe(u), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Target names one object by kind, namespace and name (namespace empty for cluster-scoped kinds).
type Target struct {
	Kind      string
	Namespace string
	Name      string
}

func (t Target) matches(u *unstructured.Unstructured) bool {
	return u.GetKind() == t.Kind && u.GetNamespace() == t.Namespace && u.GetName() == t.Name
}

// Labels merges labels into every object's metadata.labels (not into pod templates), e.g. to mark
// what kindstack applied so it can find and prune it later. Existing keys with other values are overwritten.
func Labels(labels map[string]string) Func {
	return func(u *unstructured.Unstructured) error {
		merged := u.GetLabels()
		if merged == nil {
			merged = map[string]string{}
		}
		for k, v := range labels {
			merged[k] = v
		}
		u.SetLabels(merged)
		return nil
	}
}

// NodeSelector merges labels into the pod template's nodeSelector of the target workload, e.g. to
// keep a hostPort controller on the node whose ports are mapped. Existing keys with other values are overwritten.
func NodeSelector(target Target, labels map[string]string) Func {
	return func(u *unstructured.Unstructured) error {
		if !target.matches(u) {
			return nil
		}
		path := podSpecPath(u)
		if path == nil {
			return fmt.Errorf("node selector: %s has no pod template", u.GetKind())
		}
		field := append(append([]string{}, path...), "nodeSelector")
		selector, _, err := unstructured.NestedStringMap(u.Object, field...)
		if err != nil {
			return fmt.Errorf("node selector: %w", err)
		}
		if selector == nil {
			selector = map[string]string{}
		}
		for k, v := range labels {
			selector[k] = v
		}
		if err := unstructured.SetNestedStringMap(u.Object, selector, field...); err != nil {
			return fmt.Errorf("node selector: %w", err)
		}
		return nil
	}
}

// AppendArgs appends args to one container of the target workload, skipping any the container
// already has, so running it twice changes nothing. The container must exist.
func AppendArgs(target Target, container string, args ...string) Func {
	return inContainer(target, container, "append args", func(c map[string]any) error {
		current, _, err := unstructured.NestedStringSlice(c, "args")
		if err != nil {
			return err
		}
		have := make(map[string]bool, len(current))
		for _, a := range current {
			have[a] = true
		}
		for _, a := range args {
			if !have[a] {
				current = append(current, a)
				have[a] = true
			}
		}
		return unstructured.SetNestedStringSlice(c, current, "args")
	})
}

// inContainer runs fn on one named container of the target workload; the container must exist.
// what names the change in errors.
func inContainer(target Target, container, what string, fn func(c map[string]any) error) Func {
	return func(u *unstructured.Unstructured) error {
		if !target.matches(u) {
			return nil
		}
		found := false
		err := eachContainer(u, func(c map[string]any) error {
			if c["name"] != container {
				return nil
			}
			found = true
			if err := fn(c); err != nil {
				return fmt.Errorf("container %s: %w", container, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !found {
			return fmt.Errorf("%s: no container %q", what, container)
		}
		return nil
	}
}

// podSpecPath returns where the pod spec lives in a workload, or nil if the object runs no pods.
func podSpecPath(u *unstructured.Unstructured) []string {
	gk := u.GroupVersionKind().GroupKind()
	switch gk {
	case schema.GroupKind{Kind: "Pod"}:
		return []string{"spec"}
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case schema.GroupKind{Group: "apps", Kind: "Deployment"},
		schema.GroupKind{Group: "apps", Kind: "DaemonSet"},
		schema.GroupKind{Group: "apps", Kind: "StatefulSet"},
		schema.GroupKind{Group: "apps", Kind: "ReplicaSet"},
		schema.GroupKind{Group: "batch", Kind: "Job"},
		schema.GroupKind{Kind: "ReplicationController"}:
		return []string{"spec", "template", "spec"}
	}
	return nil
}

// eachContainer calls fn with every container and init container of a workload's pod spec, and
// writes the (possibly changed) containers back. Objects that run no pods are left alone.
func eachContainer(u *unstructured.Unstructured, fn func(c map[string]any) error) error {
	path := podSpecPath(u)
	if path == nil {
		return nil
	}
	for _, list := range []string{"initContainers", "containers"} {
		field := append(append([]string{}, path...), list)
		containers, found, err := unstructured.NestedSlice(u.Object, field...)
		if err != nil {
			return fmt.Errorf("%s: %w", list, err)
		}
		if !found {
			continue
		}
		for i, item := range containers {
			c, ok := item.(map[string]any)
			if !ok {
				return fmt.Errorf("%s[%d] is not an object", list, i)
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, containers, field...); err != nil {
			return fmt.Errorf("%s: %w", list, err)
		}
	}
	return nil
}

func describe(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// HostPorts adds a TCP container port with the same host port to one container of the target
// workload for each port it does not have yet, so running it twice changes nothing. The container
// must exist.
func HostPorts(target Target, container string, ports ...int) Func {
	return inContainer(target, container, "host ports", func(c map[string]any) error {
		current, _, err := unstructured.NestedSlice(c, "ports")
		if err != nil {
			return err
		}
		have := map[int64]bool{}
		for _, p := range current {
			if m, ok := p.(map[string]any); ok {
				if n, ok := m["containerPort"].(int64); ok {
					have[n] = true
				}
			}
		}
		for _, port := range ports {
			if have[int64(port)] {
				continue
			}
			have[int64(port)] = true
			current = append(current, map[string]any{
				"name": fmt.Sprintf("p%d", port), "containerPort": int64(port), "hostPort": int64(port), "protocol": "TCP",
			})
		}
		return unstructured.SetNestedSlice(c, current, "ports")
	})
}
