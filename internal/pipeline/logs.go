package pipeline

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kindstack/kindstack/internal/config"
	"github.com/kindstack/kindstack/internal/target"
)

// LogsOptions are the inputs of Logs.
type LogsOptions struct {
	Settings config.Settings
	// Dir receives the files; "" means a new directory under the system's temporary directory.
	Dir string
	// Archive, if set, is a .tar.gz written from the files (the directory is then removed,
	// unless Dir named it).
	Archive string
}

// logsBudget bounds a whole collection: a half-broken cluster must not hold it.
const logsBudget = 3 * time.Minute

// Logs is `kindstack logs`: everything a maintainer asks for in a bug report, in one place, and
// still what can be had when the API server is down (the nodes' logs come from the runtime):
//
//	kindstack.txt            kindstack's version, the settings' name and what went wrong collecting
//	status.json              `status -o json`: cluster, nodes, every component's objects
//	components/<name>.txt    each object and gate, and for those not ready their pods, containers,
//	                         conditions and warning events
//	pods/<ns>_<pod>_<c>.log  current and previous logs of the pods of what is not ready
//	events/<namespace>.txt   every event of the namespaces kindstack installs into
//	nodes/                   kind's export: journal, kubelet, containerd, /var/log, images, inspect
//	beside/<container>.log   what the containers beside the nodes logged (the local registry)
//
// Secrets' values never go in: objects are described, never dumped. It returns where it wrote.
func (p *Pipeline) Logs(parent context.Context, opts LogsOptions) (string, error) {
	ctx, cancel := context.WithTimeout(parent, logsBudget)
	defer cancel()
	s := opts.Settings
	t := p.targetOf(s)
	// A context that is not in the kubeconfig, or does not answer, has nothing to collect.
	if err := discover(ctx, t); err != nil {
		return "", err
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kindstack-logs-"+s.Name+"-"); err != nil {
			return "", fmt.Errorf("logs: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	var problems []string
	write := func(name string, data []byte) {
		path := filepath.Join(dir, name)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, data, 0o644)
		}
		if err != nil {
			problems = append(problems, err.Error())
		}
	}

	statusCtx, cancelStatus := context.WithTimeout(ctx, s.StatusTimeout)
	rep, statusErr := p.status(statusCtx, s, t)
	cancelStatus()
	if js, err := json.MarshalIndent(rep, "", "  "); err == nil {
		write("status.json", append(js, '\n'))
	}
	if rep.Cluster.Exists {
		if err := t.CollectLogs(ctx, filepath.Join(dir, "nodes")); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if rep.Cluster.Kubeconfig != nil {
		problems = append(problems, p.clusterLogs(ctx, rep.Cluster.Kubeconfig, s, t, write)...)
	}
	if len(rep.Beside) > 0 {
		if rt, err := p.Cluster.Engine(ctx); err != nil {
			problems = append(problems, err.Error())
		} else {
			for _, b := range rep.Beside {
				if !b.Exists {
					continue
				}
				out, err := p.Cluster.ContainerLogs(ctx, rt, b.Name)
				if err != nil {
					problems = append(problems, err.Error())
				}
				write(filepath.Join("beside", b.Name+".log"), out)
			}
		}
	}

	var head strings.Builder
	fmt.Fprintf(&head, "kindstack %s\n%s\ncollected %s\n", p.Cluster.Version, t.Describe(), time.Now().UTC().Format(time.RFC3339))
	if rep.Cluster.Spec != nil {
		fmt.Fprintf(&head, "stored spec: %+v (created by kindstack %s)\n", *rep.Cluster.Spec, rep.Cluster.ToolVersion)
	}
	if statusErr != nil {
		fmt.Fprintf(&head, "status: %v\n", statusErr)
	}
	for _, pr := range problems {
		fmt.Fprintf(&head, "not collected: %s\n", pr)
	}
	write("kindstack.txt", []byte(head.String()))

	if opts.Archive == "" {
		return dir, nil
	}
	if err := archive(dir, opts.Archive); err != nil {
		return dir, fmt.Errorf("logs: archive %s: %w", opts.Archive, err)
	}
	if opts.Dir == "" {
		_ = os.RemoveAll(dir)
	}
	return opts.Archive, nil
}

// clusterLogs writes what the cluster's API says; it returns what it could not collect.
func (p *Pipeline) clusterLogs(ctx context.Context, kubeconfig []byte, s config.Settings, t target.Target, write func(string, []byte)) []string {
	engine, err := p.Connect(kubeconfig)
	if err != nil {
		return []string{err.Error()}
	}
	if inv, err := engine.ReadInventory(ctx); err == nil {
		s = p.asRunning(s, inv)
	}
	pl, err := p.newPlan(ctx, s, t)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	namespaces := map[string]bool{"kube-system": true}
	for _, c := range pl.components {
		set := pl.sets[c.Name]
		rep := engine.Report(ctx, set)
		write(filepath.Join("components", c.Name+".txt"), []byte(rep.Text))
		for name, data := range rep.PodLogs {
			write(filepath.Join("pods", name), data)
		}
		for _, o := range set.Objects {
			if ns := o.GetNamespace(); ns != "" {
				namespaces[ns] = true
			} else if o.GetKind() == "Namespace" {
				namespaces[o.GetName()] = true
			}
		}
	}
	names := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		names = append(names, ns)
	}
	sort.Strings(names)
	for _, ns := range names {
		events, err := engine.Events(ctx, ns)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		write(filepath.Join("events", ns+".txt"), events)
	}
	return problems
}

// archive writes dir's files into a gzipped tar at path, under one top directory.
func archive(dir, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz")
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join(top, rel))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	return errors.Join(walkErr, tw.Close(), gz.Close(), f.Close())
}

// AutoDiagnostics as Settings.Diagnostics makes a failed up collect into a new temporary directory.
const AutoDiagnostics = "auto"

// collectDiagnostics runs Logs after a failed up and says where it wrote, or why it could not.
func (p *Pipeline) collectDiagnostics(ctx context.Context, s config.Settings, upErr error) error {
	dir := s.Diagnostics
	if dir == AutoDiagnostics {
		dir = ""
	}
	path, err := p.Logs(ctx, LogsOptions{Settings: s, Dir: dir})
	if err != nil {
		return fmt.Errorf("%w\ncollecting diagnostics failed too: %w", upErr, err)
	}
	return fmt.Errorf("%w\ndiagnostics written to %s", upErr, path)
}
