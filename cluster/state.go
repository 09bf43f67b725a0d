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

// What kindstack keeps about its clusters on this machine, every directory the user's own and
// private to them (privatedir.go). In Manager.LockDir (the user's runtime directory, so a refused
// command writes nothing under $HOME):
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
//
// Both the marker and the record name the node containers (their IDs) they speak for: a name is
// taken again by whoever creates the next cluster under it, and a marker or record that outlived
// its cluster must not vouch for that one (identity.go).

// DefaultStateDir is where kindstack keeps its state: the user's cache directory, else a
// directory of this user's in the system's temporary directory.
func DefaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kindstack-state-"+strconv.Itoa(os.Getuid()))
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
	if err := ValidateName(opts.Name); err != nil {
		return nil, err
	}
	if err := privateDir(m.LockDir, true, m.fileOwner()); err != nil {
		return nil, fmt.Errorf("lock cluster %q: %w", opts.Name, err)
	}
	path := filepath.Join(m.LockDir, opts.Name+".lock")
	// Never truncated on open: until the lock is held, the file is another kindstack's.
	f, err := openPrivateFile(path, os.O_CREATE|os.O_RDWR, m.fileOwner())
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
		holder = readPid(f)
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
	// A fixed width covers whatever pid the last holder wrote, so nothing is truncated.
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%-*d\n", pidWidth-1, os.Getpid())), 0)
	return func() {
		_ = unlock(f)
		f.Close()
	}, nil
}

// pidWidth is the bytes a lock file's pid takes, newline included: more than any pid has digits.
const pidWidth = 20

// LockHolder reports the pid of a kindstack that holds the cluster's lock right now, without
// taking it for longer than a look (status never waits for it). A lock directory that is not the
// user's own is never looked into: doctor says what is wrong with it.
func (m *Manager) LockHolder(name string) (int, bool) {
	if ValidateName(name) != nil || privateDir(m.LockDir, false, m.fileOwner()) != nil {
		return 0, false
	}
	f, err := openPrivateFile(filepath.Join(m.LockDir, name+".lock"), os.O_RDWR, m.fileOwner())
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
	return readPid(f), true
}

// readPid reads the pid a lock's holder wrote at the start of the file.
func readPid(f *os.File) int {
	buf := make([]byte, pidWidth)
	n, _ := f.ReadAt(buf, 0)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// stateDir checks (and with create, makes) the state directory, or its subdirectory sub.
func (m *Manager) stateDir(create bool, sub ...string) (string, error) {
	dir := m.StateDir
	if err := privateDir(dir, create, m.fileOwner()); err != nil {
		return "", err
	}
	for _, s := range sub {
		dir = filepath.Join(dir, s)
		if err := privateDir(dir, create, m.fileOwner()); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// creatingMarker is what <name>.creating holds: the pid of the kindstack creating the cluster and,
// once the runtime shows them, the IDs of the node containers kind made for it.
type creatingMarker struct {
	PID   int      `json:"pid"`
	Nodes []string `json:"nodes,omitempty"`
}

// markCreating records that a create of the cluster starts now.
func (m *Manager) markCreating(name string) error {
	return m.writeMarker(name, creatingMarker{PID: os.Getpid()})
}

// markCreatingNodes adds the IDs of the node containers being created to the marker.
func (m *Manager) markCreatingNodes(name string, nodes []string) error {
	return m.writeMarker(name, creatingMarker{PID: os.Getpid(), Nodes: nodes})
}

func (m *Manager) writeMarker(name string, mk creatingMarker) error {
	dir, err := m.stateDir(true)
	if err != nil {
		return err
	}
	data, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	return writePrivateFile(dir, name+".creating", data)
}

// halfCreated reports whether an earlier kindstack started creating the cluster and never
// finished, with its marker. Only meaningful while holding the cluster's lock.
func (m *Manager) halfCreated(name string) (creatingMarker, bool) {
	dir, err := m.stateDir(false)
	if err != nil {
		return creatingMarker{}, false
	}
	data, err := readPrivateFile(filepath.Join(dir, name+".creating"), m.fileOwner())
	if err != nil {
		return creatingMarker{}, false
	}
	var mk creatingMarker
	if json.Unmarshal(data, &mk) != nil {
		// An older kindstack wrote the pid alone, and named no node container.
		mk = creatingMarker{}
		mk.PID, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	return mk, true
}

// dropMarker removes the creating marker alone.
func (m *Manager) dropMarker(name string) error {
	dir, err := m.stateDir(false)
	if errors.Is(err, errNoDir) {
		return nil
	}
	if err != nil {
		return err
	}
	return removeIfPresent(filepath.Join(dir, name+".creating"))
}

// record is what <name>.json holds.
type record struct {
	Spec    Spec   `json:"spec"`
	Version string `json:"kindstackVersion"`
	// Nodes are the IDs of the cluster's node containers when it was created: the record speaks
	// for that cluster only.
	Nodes []string `json:"nodes,omitempty"`
}

// recordCreated replaces the creating marker with the record of what was created and the IDs of
// its node containers.
func (m *Manager) recordCreated(s StoredSpec, nodes []string) error {
	dir, err := m.stateDir(true)
	if err != nil {
		return err
	}
	data, err := json.Marshal(record{Spec: s.Spec, Version: s.Version, Nodes: nodes})
	if err != nil {
		return err
	}
	if err := writePrivateFile(dir, s.Spec.Name+".json", data); err != nil {
		return err
	}
	return removeIfPresent(filepath.Join(dir, s.Spec.Name+".creating"))
}

// recorded returns the record this machine's kindstack made when it created the cluster, if it
// did.
func (m *Manager) recorded(name string) (*record, bool) {
	dir, err := m.stateDir(false)
	if err != nil {
		return nil, false
	}
	data, err := readPrivateFile(filepath.Join(dir, name+".json"), m.fileOwner())
	if err != nil {
		return nil, false
	}
	var rec record
	if json.Unmarshal(data, &rec) != nil || rec.Spec.Name != name {
		return nil, false
	}
	return &rec, true
}

// forget removes what this machine knows of a deleted cluster (never the lock file: removing it
// would let two commands hold "the" lock on two different files).
func (m *Manager) forget(name string) error {
	dir, err := m.stateDir(false)
	if errors.Is(err, errNoDir) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.Join(
		removeIfPresent(filepath.Join(dir, name+".json")),
		removeIfPresent(filepath.Join(dir, name+".creating")),
	)
}

func removeIfPresent(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
