package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// create runs kind's create and checks what kind's own wait does not; res.Baked says which baked
// node image it created the cluster from. A create interrupted by
// ctx deletes what kind made so far, unless Retain.
func (m *Manager) create(ctx context.Context, provider Provider, opts EnsureOptions, res *EnsureResult) ([]byte, error) {
	name := opts.Spec.Name
	wait := opts.ReadyWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	if err := m.markCreating(name); err != nil {
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}
	// kind always writes a kubeconfig; give it a private file so it never touches the user's.
	tmp, err := os.MkdirTemp("", "kindstack-kubeconfig-")
	if err != nil {
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	kindKubeconfig := filepath.Join(tmp, "config")
	// A baked node image is looked for first under the base's own name, so a base the engine
	// lacks is not pulled through a mirror for nothing; then as the engine holds the base.
	nodeImage := ""
	baked := func(resolved string) {
		if b, ok := m.BakedFor(ctx, opts.Runtime, opts.Spec.NodeImage, resolved, opts.Baked); ok {
			orNop(opts.Logf)("node image %s: using %s, baked with the stack's %d images", opts.Spec.NodeImage, b.Ref, len(b.Images))
			nodeImage, res.Baked = b.Ref, b.Ref
		}
	}
	if opts.Baked != nil {
		baked(opts.Spec.NodeImage)
	}
	if nodeImage == "" {
		resolved, err := m.nodeImage(ctx, opts.Runtime, opts.Spec.NodeImage, opts.Registries, orNop(opts.Logf))
		if err != nil {
			_ = m.forget(name)
			return nil, fmt.Errorf("create cluster %q: %w", name, err)
		}
		if nodeImage = resolved; opts.Baked != nil && resolved != opts.Spec.NodeImage {
			baked(resolved)
		}
	}

	// creating ends when kind's create returns (or ctx does): the watch for a configured node
	// then stops, and it is joined before create returns.
	creating, created := context.WithCancel(ctx)
	var watch sync.WaitGroup
	defer watch.Wait()
	defer created()
	if opts.Configured != nil {
		watch.Go(func() {
			if m.whenConfigured(creating, opts.Runtime, name) {
				opts.Configured()
			}
		})
	}
	// The node containers' IDs go into the marker as soon as kind has made them: the marker then
	// speaks for this cluster only (identity.go).
	watchingIDs, stopIDs := context.WithCancel(creating)
	var idWatch sync.WaitGroup
	defer idWatch.Wait()
	defer stopIDs()
	idWatch.Go(func() { m.watchNodeIDs(watchingIDs, opts.Runtime, name, len(KindConfig(opts.Spec).Nodes)) })
	done := make(chan error, 1)
	go func() {
		defer created()
		done <- provider.Create(name,
			kindcluster.CreateWithV1Alpha4Config(KindConfig(opts.Spec)),
			kindcluster.CreateWithNodeImage(nodeImage),
			kindcluster.CreateWithWaitForReady(wait),
			kindcluster.CreateWithKubeconfigPath(kindKubeconfig),
			kindcluster.CreateWithRetain(opts.Retain),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	var createErr error
	select {
	case createErr = <-done:
	case <-ctx.Done():
		return nil, m.abandonCreate(ctx, provider, name, kindKubeconfig, opts.Retain, done)
	}
	stopIDs()
	idWatch.Wait()
	nodes, err := m.nodeIDs(ctx, opts.Runtime, name)
	if err == nil && len(nodes) > 0 {
		_ = m.markCreatingNodes(name, nodes)
	}
	if createErr != nil {
		if names, err := provider.List(); !opts.Retain && err == nil && !slices.Contains(names, name) {
			_ = m.forget(name) // kind deleted what it made; whatever is left keeps its marker
		}
		return nil, fmt.Errorf("create cluster %q: %w%s", name, createErr, commandOutput(createErr, opts.Retain, opts.Runtime))
	}

	kc, err := m.afterCreate(ctx, provider, opts.Runtime, opts.Spec, nodes, wait)
	if err != nil {
		if !opts.Retain {
			_ = provider.Delete(name, kindKubeconfig)
			_ = m.forget(name)
			return nil, fmt.Errorf("%w (the cluster was deleted; --retain keeps it for debugging)", err)
		}
		return nil, err
	}
	return kc, nil
}

// abandonCreate is create's answer to ctx ending first. kind's Create cannot be cancelled;
// removing its nodes makes it fail fast. Its goroutine is waited for up to a minute (done), and
// is left to finish on its own when Retain keeps what it made.
func (m *Manager) abandonCreate(ctx context.Context, provider Provider, name, kindKubeconfig string, retain bool, done <-chan error) error {
	if retain {
		return fmt.Errorf("create cluster %q: %w; the half-created cluster is kept (--retain): remove it with `kindstack down --name %s`", name, ctx.Err(), name)
	}
	delErr := provider.Delete(name, kindKubeconfig)
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
	// kind may have started a node container after that delete listed the nodes: once its
	// create has returned, delete again so nothing is left behind.
	if delErr == nil {
		delErr = provider.Delete(name, kindKubeconfig)
	}
	if delErr == nil {
		delErr = m.forget(name)
	}
	if delErr != nil {
		return fmt.Errorf("create cluster %q: %w; deleting the half-created cluster failed too (run `kindstack down --name %s`): %w", name, ctx.Err(), name, delErr)
	}
	return fmt.Errorf("create cluster %q: %w; the half-created cluster was deleted", name, ctx.Err())
}

// afterCreate checks the node really is Ready (kind's wait returns success on timeout) and that
// Services work, then stores the spec the cluster was created with, and records it on this machine
// with the IDs of its node containers.
func (m *Manager) afterCreate(ctx context.Context, provider Provider, rt Runtime, spec Spec, nodes []string, wait time.Duration) ([]byte, error) {
	kc, client, err := m.connect(provider, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := WaitNodesReady(ctx, client, wait); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := m.waitProxy(ctx, rt, spec.Name, wait); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	stored := StoredSpec{Spec: spec, Version: m.Version}
	if err := WriteStoredSpec(ctx, client, stored); err != nil {
		return nil, fmt.Errorf("new cluster %q: %w", spec.Name, err)
	}
	if err := m.recordCreated(stored, nodes); err != nil {
		return nil, fmt.Errorf("new cluster %q: record it in %s: %w", spec.Name, m.StateDir, err)
	}
	return kc, nil
}

// commandOutput returns the tail of a failed node command's output (kind keeps it in a
// RunError and prints only "exit status 1"), and how to keep the node for a look with the engine
// in use.
func commandOutput(err error, retained bool, rt Runtime) string {
	runErr := kindexec.RunErrorForError(err)
	if runErr == nil || len(runErr.Output) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(runErr.Output), "\n"), "\n")
	const keep = 15
	if len(lines) > keep {
		lines = lines[len(lines)-keep:]
	}
	cli := rt.Binary
	if cli == "" {
		cli = "docker"
	}
	hint := "run `kindstack up --retain` to keep the failed node for a look (" + cli + " exec into it)"
	if retained {
		hint = "the failed node is kept (--retain)"
	}
	return "\nlast lines of its output:\n  " + strings.Join(lines, "\n  ") + "\n" + hint
}
