package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Ref names one object the way a person reads it: Kind/namespace/name.
type Ref struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the Ref of an object.
func RefOf(u *unstructured.Unstructured) Ref {
	return Ref{
		Group:     u.GroupVersionKind().Group,
		Kind:      u.GetKind(),
		Namespace: u.GetNamespace(),
		Name:      u.GetName(),
	}
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Action is what an apply did to one object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Change is the outcome of applying one object.
type Change struct {
	Ref    Ref
	Action Action
}

// ChangeSet lists what one apply did, in apply order.
type ChangeSet []Change

// Count returns how many objects had the given action.
func (s ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range s {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Changed reports whether any object was created or configured.
func (s ChangeSet) Changed() bool {
	return s.Count(Created)+s.Count(Configured) > 0
}

// String summarises the set as a person reads it, e.g. "2 created, 1 configured, 7 unchanged".
func (s ChangeSet) String() string {
	var parts []string
	for _, a := range []Action{Created, Configured, Unchanged} {
		if n := s.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "nothing to apply"
	}
	return strings.Join(parts, ", ")
}

// Result is one readiness check's verdict. Reason says why it is not ready, in words a user can act on.
type Result struct {
	Ready  bool
	Reason string
	// failed: kstatus says the object Failed (a Job out of retries, a Deployment past its
	// progress deadline); waiting longer will not help.
	failed bool
	// HopelessAfter, for a gate: this state means "never" once it has lasted this long while every
	// object of the set is ready (0: it may pass any time).
	HopelessAfter time.Duration
}

// Gate is a readiness check beyond kstatus, e.g. "the admission webhook is serving".
// Check returns an error only when the check itself could not run (and retrying will not help);
// "not ready yet" is a Result with Ready false and a Reason.
type Gate struct {
	Name  string
	Check func(ctx context.Context, c *Client) (Result, error)
}

// Set is a group of objects installed and waited on together, e.g. one addon.
type Set struct {
	// Name is what progress lines and errors call the set ("ingress-nginx").
	Name string
	// Objects are applied in stages (see Apply).
	Objects []*unstructured.Unstructured
	// Skip reports objects that are applied but not waited on (e.g. Jobs that delete themselves).
	Skip func(*unstructured.Unstructured) bool
	// Gates are checked after every object is Current.
	Gates []Gate
	// ImageProbe, when set, is asked about an image the kubelet fails to pull for a reason that
	// may pass (a timeout): a non-empty answer ("not on mirror X (HTTP 404)") makes it certain.
	ImageProbe func(ctx context.Context, image string) string
	// Progress, when set, hears every 15 s of waiting which images the set's pods still pull.
	Progress func(msg string)
}

// ObjectStatus is the readiness of one object or gate, for status output and wait errors.
type ObjectStatus struct {
	Name   string `json:"name"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}
