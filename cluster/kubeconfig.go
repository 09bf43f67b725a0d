package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ContextName is the kubeconfig cluster, user and context name kind uses for a cluster.
func ContextName(name string) string { return "kind-" + name }

// KubeconfigPaths lists the kubeconfig files kindstack may touch, by kind's (and kubectl's) rule:
// the explicit path, else every path in $KUBECONFIG, else ~/.kube/config.
func KubeconfigPaths(explicit string, getenv func(string) string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	var paths []string
	seen := map[string]bool{}
	for _, p := range filepath.SplitList(getenv("KUBECONFIG")) {
		if p != "" && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	if len(paths) > 0 {
		return paths
	}
	home := getenv("HOME")
	if runtime.GOOS == "windows" && getenv("USERPROFILE") != "" {
		home = getenv("USERPROFILE")
	}
	return []string{filepath.Join(home, ".kube", "config")}
}

// KubeconfigMergePath is the file new entries go to, as kind and kubectl choose it: with several
// $KUBECONFIG paths, the first that exists, else the last.
func KubeconfigMergePath(explicit string, getenv func(string) string) string {
	paths := KubeconfigPaths(explicit, getenv)
	if len(paths) == 1 {
		return paths[0]
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return paths[len(paths)-1]
}

var kubeconfigSections = []string{"clusters", "users", "contexts"}

// userKubeconfig is the kind-<name> context of the user's kubeconfig files (explicit, else kind's
// rule), with its cluster and user, as a kubeconfig of its own; nil when no file has all three.
func (m *Manager) userKubeconfig(explicit, name string) []byte {
	for _, p := range KubeconfigPaths(explicit, m.getenv) {
		cfg, err := clientcmd.LoadFromFile(p)
		if err != nil {
			continue
		}
		c, ok := cfg.Contexts[ContextName(name)]
		if !ok {
			continue
		}
		cluster, okCluster := cfg.Clusters[c.Cluster]
		user, okUser := cfg.AuthInfos[c.AuthInfo]
		if !okCluster || !okUser {
			continue
		}
		out := clientcmdapi.NewConfig()
		out.Clusters[c.Cluster], out.AuthInfos[c.AuthInfo], out.Contexts[ContextName(name)] = cluster, user, c
		out.CurrentContext = ContextName(name)
		if data, err := clientcmd.Write(*out); err == nil {
			return data
		}
	}
	return nil
}

// MergeKubeconfig puts the cluster, user and context named kind-<name> from clusterKubeconfig (what
// kind's Provider.KubeConfig returns) into the file at path and makes it the current context, as
// kind does. Every other entry is kept as it was written, byte for byte. It reports whether the
// file changed.
func MergeKubeconfig(ctx context.Context, path, name string, clusterKubeconfig []byte) (bool, error) {
	return mergeKubeconfig(ctx, path, name, clusterKubeconfig, true)
}

// AddKubeconfigEntries is MergeKubeconfig without touching current-context (--keep-context).
func AddKubeconfigEntries(ctx context.Context, path, name string, clusterKubeconfig []byte) (bool, error) {
	return mergeKubeconfig(ctx, path, name, clusterKubeconfig, false)
}

func mergeKubeconfig(ctx context.Context, path, name string, clusterKubeconfig []byte, makeCurrent bool) (bool, error) {
	key := ContextName(name)
	src, err := parseKubeconfig(clusterKubeconfig)
	if err != nil {
		return false, fmt.Errorf("read kind's kubeconfig for %s: %w", key, err)
	}
	entries := map[string]*yaml.Node{}
	for _, sec := range kubeconfigSections {
		item := findNamed(seq(src, sec), key)
		if item == nil {
			return false, fmt.Errorf("kind's kubeconfig has no %s entry named %s", sec, key)
		}
		entries[sec] = item
	}

	var changed bool
	err = editKubeconfig(ctx, path, func(doc *yaml.Node) {
		for _, sec := range kubeconfigSections {
			list := ensureSeq(doc, sec)
			if old := findNamed(list, key); old != nil {
				if !sameNode(old, entries[sec]) {
					*old = *entries[sec]
					changed = true
				}
				continue
			}
			list.Content = append(list.Content, entries[sec])
			changed = true
		}
		if makeCurrent && setScalar(doc, "current-context", key) {
			changed = true
		}
	}, &changed)
	return changed, err
}

// RemoveKubeconfig removes the cluster, user and context kind-<name> from the file at path and
// clears current-context only if it was ours. A missing file is not an error. It reports whether
// the file changed.
func RemoveKubeconfig(ctx context.Context, path, name string) (bool, error) {
	key := ContextName(name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	var changed bool
	err := editKubeconfig(ctx, path, func(doc *yaml.Node) {
		for _, sec := range kubeconfigSections {
			list := seq(doc, sec)
			if list == nil {
				continue
			}
			kept := list.Content[:0]
			for _, item := range list.Content {
				if scalarValue(item, "name") == key {
					changed = true
					continue
				}
				kept = append(kept, item)
			}
			list.Content = kept
		}
		if scalarValue(doc, "current-context") == key {
			setScalar(doc, "current-context", "")
			changed = true
		}
	}, &changed)
	return changed, err
}

// editKubeconfig reads path (an empty document if missing), applies edit, and writes the file back
// atomically only if *changed, under kubectl's lock file convention (path + ".lock").
func editKubeconfig(ctx context.Context, path string, edit func(doc *yaml.Node), changed *bool) error {
	// A kubeconfig that is a symlink (dotfile managers) is written through the link, as kubectl
	// and kind do: the link stays a link.
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	unlock, err := lockKubeconfig(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()

	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	var doc *yaml.Node
	if len(bytes.TrimSpace(data)) == 0 {
		doc = emptyKubeconfig()
	} else if doc, err = parseKubeconfig(data); err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	edit(doc)
	if !*changed {
		return nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kindstack-kubeconfig-*")
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// lockKubeconfig takes kubectl's lock file of a kubeconfig (path + ".lock"), waiting up to
// kubeconfigLockWait for a kubectl or kind that holds it.
func lockKubeconfig(ctx context.Context, path string) (func(), error) {
	lock := path + ".lock"
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, kubeconfigLockWait, true, func(context.Context) (bool, error) {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return true, nil
		}
		last = err
		return false, ignoreExist(err)
	})
	if err != nil {
		if wait.Interrupted(err) && ctx.Err() == nil && last != nil {
			err = last // the lock is still held: say which file
		}
		return nil, fmt.Errorf("lock kubeconfig (remove %s if no kubectl or kind is running): %w", lock, err)
	}
	return func() { os.Remove(lock) }, nil
}

// kubeconfigLockWait bounds the wait for another program's kubeconfig lock.
const kubeconfigLockWait = 5 * time.Second

// ignoreExist is nil for "the file exists", the error otherwise.
func ignoreExist(err error) error {
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	return err
}

// parseKubeconfig returns the top-level mapping of a kubeconfig document.
func parseKubeconfig(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a kubeconfig (want a mapping with clusters, users, contexts)")
	}
	// A key given twice in one mapping is read as its last value by kubectl and as its first by a
	// node walk: kindstack would then edit an entry other than the one kubectl sees (found by
	// FuzzMergeKubeconfigKeepsOtherEntries). Decoding into plain values names the repeated key.
	var plain any
	if err := doc.Decode(&plain); err != nil {
		return nil, fmt.Errorf("not a kubeconfig kindstack edits: %w", err)
	}
	for _, sec := range kubeconfigSections {
		if v := value(doc.Content[0], sec); v != nil && v.Kind != yaml.SequenceNode && v.Tag != "!!null" {
			return nil, fmt.Errorf("line %d: %s is not a list", v.Line, sec)
		}
	}
	return doc.Content[0], nil
}

func emptyKubeconfig() *yaml.Node {
	doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setScalar(doc, "apiVersion", "v1")
	ensureSeq(doc, "clusters")
	ensureSeq(doc, "contexts")
	setScalar(doc, "current-context", "")
	setScalar(doc, "kind", "Config")
	doc.Content = append(doc.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "preferences"},
		&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle})
	ensureSeq(doc, "users")
	return doc
}
