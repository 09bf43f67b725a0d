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
	res := DownResult{Name: s.Name}
	timings, err := r.Run(ctx, []steps.Step{p.deleteStep(s, &res)})
	res.Timings = timingsJSON(timings)
	return res, err
}

func (p *Pipeline) deleteStep(s config.Settings, res *DownResult) steps.Step {
	return steps.Step{
		Name: "Delete cluster " + s.Name,
		Run: func(ctx context.Context, st *steps.Status) error {
			existed, err := p.Cluster.Delete(ctx, cluster.DeleteOptions{Name: s.Name, Kubeconfig: s.Kubeconfig, Logf: st.Infof})
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
