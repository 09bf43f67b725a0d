package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// What kindstack keeps about its clusters on this machine. In Manager.LockDir (the user's runtime
// directory, so a refused command writes nothing under $HOME):
//
//	<name>.lock      held (flock) by every command that changes the cluster; a killed process
//	                 never leaves it stale, the kernel releases it. It holds the holder's pid.
//
// In Manager.StateDir (the user's cache directory), written only once a create starts:
//
//	<name>.creating  written before kind's create, removed once the spec is stored: found by a
//	                 later run holding the lock, it means "half-made by an interrupted kindstack".
//	<name>.json      the spec kindstack created the cluster with: proof it is kindstack's even
//	                 when the cluster's API does not answer (a stopped node).

// DefaultStateDir is where kindstack keeps its state: the user's cache directory.
func DefaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "kindstack", "clusters")
}

// DefaultLockDir is where cluster locks live: $XDG_RUNTIME_DIR/kindstack, else a directory of
// this user's in the system's temporary directory.
func DefaultLockDir(getenv func(string) string) string {
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "kindstack")
	}
	return filepath.Join(os.TempDir(), "kindstack-locks-"+strconv.Itoa(os.Getuid()))
}

// lockPollInterval is how often a waiting command tries the lock again.
const lockPollInterval = 250 * time.Millisecond

// LockOptions are the inputs of Lock.
type LockOptions struct {
	Name string
	// NoWait fails at once when another kindstack holds the lock.
	NoWait bool
	// Waiting is told once, with the holder's pid, that the command waits for the lock.
	Waiting func(holder int)
}

// Lock takes the exclusive lock of one cluster name, for commands that change the cluster. It
// returns the function that releases it.
func (m *Manager) Lock(ctx context.Context, opts LockOptions) (func(), error) {
	if err := os.MkdirAll(m.LockDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock cluster %q: %w", opts.Name, err)
	}
	path := filepath.Join(m.LockDir, opts.Name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock cluster %q: %w", opts.Name, err)
	}
	var holder int
	told := false
	err = wait.PollUntilContextCancel(ctx, lockPollInterval, true, func(context.Context) (bool, error) {
		locked, err := tryLock(f)
		if err != nil {
			return false, fmt.Errorf("lock cluster %q (%s): %w", opts.Name, path, err)
		}
		if locked {
			return true, nil
		}
		holder = readPid(path)
		if opts.NoWait {
			return false, fmt.Errorf("another kindstack (pid %d) is changing cluster %q; wait for it to finish, or run again without --no-wait", holder, opts.Name)
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(holder)
			told = true
		}
		return false, nil
	})
	if err != nil {
		f.Close()
		if wait.Interrupted(err) {
			return nil, fmt.Errorf("waiting for another kindstack (pid %d) on cluster %q: %w", holder, opts.Name, context.Cause(ctx))
		}
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = unlock(f)
		f.Close()
	}, nil
}

// LockHolder reports the pid of a kindstack that holds the cluster's lock right now, without
// taking it for longer than a look (status never waits for it).
func (m *Manager) LockHolder(name string) (int, bool) {
	path := filepath.Join(m.LockDir, name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	locked, err := tryLock(f)
	if err != nil {
		return 0, false
	}
	if locked {
		_ = unlock(f)
		return 0, false
	}
	return readPid(path), true
}

func readPid(path string) int {
	data, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// markCreating records that a create of the cluster starts now.
func (m *Manager) markCreating(name string) error {
	if err := os.MkdirAll(m.StateDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(m.StateDir, name+".creating"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// halfCreated reports whether an earlier kindstack started creating the cluster and never
// finished, and that kindstack's pid. Only meaningful while holding the cluster's lock.
func (m *Manager) halfCreated(name string) (int, bool) {
	path := filepath.Join(m.StateDir, name+".creating")
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	return readPid(path), true
}

// recordCreated replaces the creating marker with the record of what was created.
func (m *Manager) recordCreated(s StoredSpec) error {
	data, err := json.Marshal(struct {
		Spec    Spec   `json:"spec"`
		Version string `json:"kindstackVersion"`
	}{s.Spec, s.Version})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.StateDir, s.Spec.Name+".json"), data, 0o644); err != nil {
		return err
	}
	return removeIfPresent(filepath.Join(m.StateDir, s.Spec.Name+".creating"))
}

// recorded returns the spec this machine's kindstack created the cluster with, if it did.
func (m *Manager) recorded(name string) (*Spec, bool) {
	data, err := os.ReadFile(filepath.Join(m.StateDir, name+".json"))
	if err != nil {
		return nil, false
	}
	var rec struct {
		Spec Spec `json:"spec"`
	}
	if json.Unmarshal(data, &rec) != nil || rec.Spec.Name != name {
		return nil, false
	}
	return &rec.Spec, true
}

// forget removes what this machine knows of a deleted cluster (never the lock file: removing it
// would let two commands hold "the" lock on two different files).
func (m *Manager) forget(name string) error {
	return errors.Join(
		removeIfPresent(filepath.Join(m.StateDir, name+".json")),
		removeIfPresent(filepath.Join(m.StateDir, name+".creating")),
	)
}

func removeIfPresent(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
