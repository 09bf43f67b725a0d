package pipeline

import (
	"context"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
	"github.com/kindstack/kindstack/internal/target"
)

// Down is `kindstack down`: one step that deletes the cluster and its kubeconfig entries. A
// cluster that is already gone is success ("like rm -f"); the result says whether one existed.
// On a target kindstack did not create (not a kind cluster it manages), the step removes what
// kindstack installed there instead, and the cluster stays.
func (p *Pipeline) Down(parent context.Context, r *steps.Runner, s config.Settings) (DownResult, error) {
	ctx, cancel := context.WithTimeout(parent, s.Timeout)
	defer cancel()
	res := DownResult{Name: s.Name, Timings: []TimingJSON{}}
	t := p.targetOf(s)
	unlock, err := p.lock(ctx, r, t, s.NoWait)
	if err != nil {
		return res, err
	}
	defer unlock()
	step := p.deleteStep(t, &res)
	if _, isKind := t.(*target.Kind); !isKind {
		// A cluster kindstack did not create stays; what kindstack installed there goes.
		step = p.uninstallStep(t, &res)
	}
	timings, err := r.Run(ctx, []steps.Step{step})
	res.Timings = timingsJSON(timings)
	return res, err
}

// lock takes the target's lock for a command that changes it, saying so when it has to wait.
func (p *Pipeline) lock(ctx context.Context, r *steps.Runner, t target.Target, noWait bool) (func(), error) {
	return t.Lock(ctx, target.LockOptions{NoWait: noWait, Waiting: func(holder int) {
		r.Warnf("waiting for another kindstack on %s (pid %d); --no-wait fails instead", t.Describe(), holder)
	}})
}

func (p *Pipeline) deleteStep(t target.Target, res *DownResult) steps.Step {
	return steps.Step{
		Name: "Delete " + t.Describe(),
		Run: func(ctx context.Context, st *steps.Status) error {
			existed, err := t.Delete(ctx, target.DeleteOptions{Logf: st.Infof})
			if err != nil {
				return err
			}
			res.Deleted = existed
			if existed {
				st.Result("deleted")
			} else {
				st.Result("already absent")
			}
			return nil
		},
	}
}
