package pipeline

import (
	"context"

	"github.com/kindstack/kindstack/cluster"
	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/steps"
)

// Down is `kindstack down`: one step that deletes the cluster and its kubeconfig entries. A
// cluster that is already gone is success ("like rm -f"); the result says whether one existed.
func (p *Pipeline) Down(parent context.Context, r *steps.Runner, s config.Settings) (DownResult, error) {
	ctx, cancel := context.WithTimeout(parent, s.Timeout)
	defer cancel()
	res := DownResult{Name: s.Name, Timings: []TimingJSON{}}
	unlock, err := p.lock(ctx, r, s)
	if err != nil {
		return res, err
	}
	defer unlock()
	timings, err := r.Run(ctx, []steps.Step{p.deleteStep(s, &res)})
	res.Timings = timingsJSON(timings)
	return res, err
}

// lock takes the cluster's lock for a command that changes it, saying so when it has to wait.
func (p *Pipeline) lock(ctx context.Context, r *steps.Runner, s config.Settings) (func(), error) {
	if err := cluster.ValidateName(s.Name); err != nil {
		return func() {}, nil // preflight reports it with the other problems
	}
	return p.Cluster.Lock(ctx, cluster.LockOptions{Name: s.Name, NoWait: s.NoWait, Waiting: func(holder int) {
		r.Warnf("waiting for another kindstack on cluster %s (pid %d); --no-wait fails instead", s.Name, holder)
	}})
}

func (p *Pipeline) deleteStep(s config.Settings, res *DownResult) steps.Step {
	return steps.Step{
		Name: "Delete cluster " + s.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			existed, err := p.Cluster.Delete(ctx, cluster.DeleteOptions{Name: s.Name, Kubeconfig: s.Kubeconfig, Force: s.Force, Logf: st.Infof})
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
