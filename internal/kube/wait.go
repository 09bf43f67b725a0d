package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// pollInterval is how often Wait re-evaluates a set.
const pollInterval = time.Second

// diagnoseTimeout bounds the last look at the cluster after a wait ended, so a cancelled wait
// still returns promptly.
const diagnoseTimeout = 5 * time.Second

// NotReadyError says why one object or gate is not ready. Details are the concrete causes found
// (pods, containers, events), one line each.
type NotReadyError struct {
	Name    string
	Reason  string
	Details []string
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteString(" not ready")
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	for _, d := range e.Details {
		b.WriteString("\n    ")
		b.WriteString(d)
	}
	return b.String()
}

// objectState is one evaluated object: its verdict and, when it exists, the live object.
type objectState struct {
	ref  Ref
	live *unstructured.Unstructured
	res  Result
}

// evaluation is one look at a set.
type evaluation struct {
	objects []objectState
	gates   []ObjectStatus
	// gateGrace is each gate's Result.HopelessAfter.
	gateGrace []time.Duration
	// gatesChecked is false when gates were not checked because objects were not all ready.
	gatesChecked bool
	// fatal is a gate that could not be checked at all (retrying will not help).
	fatal error
}

func (e evaluation) ready() bool {
	if e.fatal != nil || !e.gatesChecked {
		return false
	}
	for _, o := range e.objects {
		if !o.res.Ready {
			return false
		}
	}
	for _, g := range e.gates {
		if !g.Ready {
			return false
		}
	}
	return true
}

func (e evaluation) statuses() []ObjectStatus {
	out := make([]ObjectStatus, 0, len(e.objects)+len(e.gates))
	for _, o := range e.objects {
		out = append(out, ObjectStatus{Name: o.ref.String(), Ready: o.res.Ready, Reason: o.res.Reason})
	}
	return append(out, e.gates...)
}

// waited returns the objects of a set that are waited on: all but those Skip selects.
func waited(set Set) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range set.Objects {
		if set.Skip != nil && set.Skip(o) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// Status evaluates a set once, without waiting: one ObjectStatus per waited object (by kstatus)
// and one per gate, in that order.
func (c *Client) Status(ctx context.Context, set Set) []ObjectStatus {
	return c.evaluate(ctx, set, true).statuses()
}

// evaluate looks at every waited object and, if alwaysGates or every object is ready, every gate.
func (c *Client) evaluate(ctx context.Context, set Set, alwaysGates bool) evaluation {
	var ev evaluation
	// Every object is read at once (one round trip each, not one after the other): a `status`
	// or one poll of a wait takes about as long as the slowest read.
	objs := waited(set)
	ev.objects = make([]objectState, len(objs))
	inParallel(len(objs), func(i int) { ev.objects[i] = c.objectStatus(ctx, objs[i]) })
	allReady := true
	for _, st := range ev.objects {
		allReady = allReady && st.res.Ready
	}
	if !allReady && !alwaysGates {
		return ev
	}
	ev.gatesChecked = true
	ev.gates = make([]ObjectStatus, len(set.Gates))
	ev.gateGrace = make([]time.Duration, len(set.Gates))
	errs := make([]error, len(set.Gates))
	inParallel(len(set.Gates), func(i int) {
		g := set.Gates[i]
		res, err := g.Check(ctx, c)
		if err != nil {
			res = Result{Reason: "check failed: " + err.Error()}
			errs[i] = err
		}
		ev.gates[i] = ObjectStatus{Name: g.Name, Ready: res.Ready, Reason: res.Reason}
		ev.gateGrace[i] = res.HopelessAfter
	})
	for i, err := range errs {
		if err != nil && ev.fatal == nil && ctx.Err() == nil {
			ev.fatal = fmt.Errorf("check %s: %w", set.Gates[i].Name, err)
		}
	}
	return ev
}

// inParallel runs f(0) … f(n-1) concurrently, at most 16 at a time, and returns when all are done.
func inParallel(n int, f func(i int)) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// objectStatus reads one object and computes its kstatus.
func (c *Client) objectStatus(ctx context.Context, o *unstructured.Unstructured) objectState {
	st := objectState{ref: RefOf(o)}
	m, err := c.mapping(o.GroupVersionKind())
	if err != nil {
		st.res.Reason = err.Error()
		return st
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		st.ref.Namespace = ""
	}
	live, err := c.resource(m, st.ref.Namespace).Get(ctx, o.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		st.res.Reason = "not found"
		return st
	}
	if err != nil {
		st.res.Reason = "cannot read it: " + err.Error()
		return st
	}
	st.live = live
	st.res = kstatusResult(live)
	return st
}

// kstatusResult turns kstatus's verdict into a Result.
func kstatusResult(live *unstructured.Unstructured) Result {
	res, err := status.Compute(live)
	if err != nil {
		return Result{Reason: "cannot compute status: " + err.Error()}
	}
	if res.Status == status.CurrentStatus {
		return Result{Ready: true}
	}
	reason := string(res.Status)
	if res.Message != "" {
		reason += ": " + res.Message
	}
	return Result{Reason: reason, failed: res.Status == status.FailedStatus}
}

// Wait polls the set until every waited object is Current and every gate passes, or ctx ends.
// When ctx ends first it returns one error (errors.Join): a first line saying whether the wait timed
// out or was cancelled and how many were still pending, then one *NotReadyError per unready object
// or gate with its reason and, for workloads, what their pods and events say.
//
// It does not wait for what can already tell it will never be ready: an object kstatus calls
// Failed, a container in CrashLoopBackOff after a few restarts, an image that cannot be pulled as
// named, a container that cannot be created, a gate whose answer has lasted its Result.HopelessAfter
// while every object was ready (an aggregated API's server answering the aggregator with an error
// status, a metrics API that is 404). Then it returns at once, naming the object (the pod, the
// container, the reason and the container's last log lines) or the gate.
func (c *Client) Wait(ctx context.Context, set Set) error {
	start := time.Now()
	hope := newHopelessness()
	hope.probe = set.ImageProbe
	lastProgress := start
	// verdict is an answer before ctx ended: an object that will never be ready, or a gate that
	// cannot be checked at all. Anything else the poll returns is ctx ending.
	var verdict error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		ev := c.evaluate(ctx, set, false)
		if ev.fatal != nil {
			verdict = fmt.Errorf("wait for %s: %w", setName(set), ev.fatal)
			return false, verdict
		}
		if ev.ready() {
			return true, nil
		}
		if err := c.hopeless(ctx, ev, hope); err != nil {
			verdict = fmt.Errorf("wait for %s: %w", setName(set), err)
			return false, verdict
		}
		if now := time.Now(); set.Progress != nil && now.Sub(lastProgress) >= progressEvery {
			lastProgress = now
			if p := c.pulls(ctx, set, now); len(p) > 0 {
				set.Progress("still pulling " + strings.Join(p, ", "))
			}
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case verdict != nil:
		return verdict
	}
	return c.waitError(ctx, set, time.Since(start))
}

// hopeless returns the first object of the evaluation that will never become ready, if any.
func (c *Client) hopeless(ctx context.Context, ev evaluation, hope *hopelessness) error {
	for _, o := range ev.objects {
		if o.res.Ready || o.live == nil {
			continue
		}
		if o.res.failed {
			return &NotReadyError{Name: o.ref.String(), Reason: "failed: " + o.res.Reason, Details: c.diagnose(ctx, o.live)}
		}
		if err := hope.check(ctx, c, o.live); err != nil {
			return err
		}
	}
	return hope.gates(ev)
}

// waitError takes a last look at the set, with a fresh short deadline since ctx has ended, and
// explains everything that is not ready.
func (c *Client) waitError(ctx context.Context, set Set, waitedFor time.Duration) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	ev := c.evaluate(dctx, set, true)

	var notReady []error
	for _, o := range ev.objects {
		if o.res.Ready {
			continue
		}
		e := &NotReadyError{Name: o.ref.String(), Reason: o.res.Reason}
		if o.live != nil {
			e.Details = c.diagnose(dctx, o.live)
		}
		notReady = append(notReady, e)
	}
	for _, g := range ev.gates {
		if !g.Ready {
			notReady = append(notReady, &NotReadyError{Name: g.Name, Reason: g.Reason})
		}
	}
	total := len(ev.objects) + len(ev.gates)
	verb := "timed out"
	if errors.Is(ctx.Err(), context.Canceled) {
		verb = "cancelled"
	}
	var head error
	if len(notReady) == 0 {
		// Everything became ready in the last moment; the wait still did not finish in time.
		head = fmt.Errorf("wait for %s: %s after %s: %w", setName(set), verb, waitedFor.Round(100*time.Millisecond), context.Cause(ctx))
	} else {
		head = fmt.Errorf("wait for %s: %s after %s with %d of %d still not ready: %w",
			setName(set), verb, waitedFor.Round(100*time.Millisecond), len(notReady), total, context.Cause(ctx))
	}
	return errors.Join(append([]error{head}, notReady...)...)
}

func setName(set Set) string {
	if set.Name == "" {
		return "objects"
	}
	return set.Name
}

// Install applies the set's objects, then waits for the set. A dry run does not wait.
func (c *Client) Install(ctx context.Context, set Set, opts ApplyOptions) (ChangeSet, error) {
	changes, err := c.Apply(ctx, set.Objects, opts)
	if err != nil || opts.DryRun {
		return changes, err
	}
	return changes, c.Wait(ctx, set)
}
