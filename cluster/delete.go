package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// DeleteOptions are the inputs of Delete.
type DeleteOptions struct {
	Name       string
	Kubeconfig string // explicit path; "" = every path in $KUBECONFIG, else ~/.kube/config
	// Force deletes a cluster kindstack did not create (or cannot tell).
	Force bool
	Logf  Logf
}

// Delete deletes the cluster and its kubeconfig entries. A cluster that is already gone is not an
// error (like rm -f); it reports whether there was one. A cluster kindstack did not create is
// refused unless Force: with KINDSTACK_CLUSTER_NAME exported, a colleague's cluster is one typo
// away. The caller holds the cluster's lock (Lock).
func (m *Manager) Delete(ctx context.Context, opts DeleteOptions) (bool, error) {
	if err := ValidateName(opts.Name); err != nil {
		return false, err
	}
	rt, _, err := m.engine(ctx, orNop(opts.Logf).msg)
	if err != nil {
		return false, err
	}
	provider := m.NewProvider(rt, kindLogger{info: orNop(opts.Logf), warn: orNop(opts.Logf)})
	names, err := provider.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	existed := slices.Contains(names, opts.Name)
	if existed && !opts.Force {
		if err := m.owned(ctx, rt, provider, opts.Name); err != nil {
			return false, err
		}
	}
	if existed {
		if err := m.deleteCluster(provider, opts.Name); err != nil {
			return false, fmt.Errorf("delete cluster %q: %w", opts.Name, err)
		}
	}
	errs := []error{m.forget(opts.Name)}
	for _, p := range KubeconfigPaths(opts.Kubeconfig, m.getenv) {
		if _, err := RemoveKubeconfig(ctx, p, opts.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove context %s from %s: %w", ContextName(opts.Name), p, err))
		}
	}
	return existed, errors.Join(errs...)
}

// deleteCluster deletes the cluster's nodes; kind's kubeconfig edit goes to a private file.
func (m *Manager) deleteCluster(provider Provider, name string) error {
	tmp, err := os.MkdirTemp("", "kindstack-kubeconfig-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	return provider.Delete(name, filepath.Join(tmp, "config"))
}

// goneChecks is how many looks, goneInterval apart, must find a deleted cluster absent before it
// counts as gone: a killed kindstack's `docker run` lives on and may create a node after the delete.
const (
	goneChecks   = 3
	goneInterval = time.Second
	goneWait     = time.Minute
)

// deleteUntilGone deletes the cluster, again and again, until it stays gone.
func (m *Manager) deleteUntilGone(ctx context.Context, provider Provider, name string) error {
	absent := 0
	err := wait.PollUntilContextTimeout(ctx, goneInterval, goneWait, true, func(context.Context) (bool, error) {
		names, err := provider.List()
		if err != nil {
			return false, err
		}
		if slices.Contains(names, name) {
			absent = 0
			return false, m.deleteCluster(provider, name)
		}
		absent++
		return absent >= goneChecks, nil
	})
	if err != nil && wait.Interrupted(err) {
		return fmt.Errorf("its nodes keep coming back: %w", err)
	}
	return err
}

// ownershipWait bounds the look into a cluster that decides whether kindstack created it.
const ownershipWait = 10 * time.Second

// owned returns nil when kindstack created the cluster: its stored spec says so, or, when its
// API does not answer (a stopped node), this machine recorded creating it, or an interrupted
// kindstack left it half-made; a record or marker counts only for the node containers it names
// (identity.go). Otherwise the error says why it is refused and names --force.
func (m *Manager) owned(ctx context.Context, rt Runtime, provider Provider, name string) error {
	if mk, half := m.halfCreated(name); half && m.identityOf(ctx, rt, name, mk.Nodes) == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ownershipWait)
	defer cancel()
	_, client, err := m.connect(provider, name)
	var stored *StoredSpec
	if err == nil {
		stored, err = ReadStoredSpec(ctx, client)
	}
	switch {
	case err == nil && stored != nil:
		return nil
	case err == nil:
		return fmt.Errorf("cluster %q was not created by kindstack (it has no ConfigMap %s/%s), so kindstack leaves it alone; pass --force to delete it anyway",
			name, SpecNamespace, SpecConfigMap)
	}
	rec, ok := m.recorded(name)
	if !ok {
		return fmt.Errorf("cluster %q does not answer (%v) and this machine has no record of kindstack creating it, so kindstack leaves it alone; pass --force to delete it anyway",
			name, err)
	}
	if why := m.identityOf(ctx, rt, name, rec.Nodes); why != "" {
		return fmt.Errorf("cluster %q does not answer (%v) and this machine's record of creating a cluster of that name does not speak for it (%s), so kindstack leaves it alone; pass --force to delete it anyway",
			name, err, why)
	}
	return nil
}
