//go:build unix

package cluster

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// victim is a file of the user's that an attacker would like kindstack to write through.
func victim(t *testing.T) (string, func(t *testing.T)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "victim")
	const content = "the user's precious data\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(path, old, old))
	return path, func(t *testing.T) {
		t.Helper()
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, content, string(data), "the victim file is untouched")
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.True(t, fi.ModTime().Equal(old), "the victim file was not even opened for writing")
	}
}

// entries lists what a directory holds, to show nothing was written into it.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

func TestLocalStateRefusesWhatAnotherUserCouldHavePlanted(t *testing.T) {
	t.Parallel()
	otherUser := func(fs.FileInfo) (int, bool) { return os.Getuid() + 1, true }
	tests := []struct {
		name string
		// plant builds the attack in a fresh temp dir and returns the LockDir and StateDir to use.
		plant func(t *testing.T, root string) (lockDir, stateDir string)
		owner FileOwner
		act   func(m *Manager) error
		want  string
	}{
		{
			name: "lock directory is a symlink to another directory",
			plant: func(t *testing.T, root string) (string, string) {
				target := filepath.Join(root, "attacker")
				require.NoError(t, os.Mkdir(target, 0o700))
				require.NoError(t, os.Symlink(target, filepath.Join(root, "locks")))
				return filepath.Join(root, "locks"), filepath.Join(root, "state")
			},
			act: func(m *Manager) error {
				_, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
				return err
			},
			want: "is a symbolic link, which kindstack never follows for its local state; remove the link and run again",
		},
		{
			name: "lock directory writable by everyone (mode 0777)",
			plant: func(t *testing.T, root string) (string, string) {
				dir := filepath.Join(root, "locks")
				require.NoError(t, os.Mkdir(dir, 0o700))
				require.NoError(t, os.Chmod(dir, 0o777))
				return dir, filepath.Join(root, "state")
			},
			act: func(m *Manager) error {
				_, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
				return err
			},
			want: "can be written by other users (mode 0777), so kindstack does not trust what it holds; remove it and run again",
		},
		{
			name: "lock directory created first by another user",
			plant: func(t *testing.T, root string) (string, string) {
				dir := filepath.Join(root, "locks")
				require.NoError(t, os.Mkdir(dir, 0o700))
				return dir, filepath.Join(root, "state")
			},
			owner: otherUser,
			act: func(m *Manager) error {
				_, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
				return err
			},
			want: "belongs to another user (uid " + strconv.Itoa(os.Getuid()+1) + "), so kindstack does not trust what it holds; have it removed (sudo rm -r ",
		},
		{
			name: "lock directory in a directory others may write to without the sticky bit",
			plant: func(t *testing.T, root string) (string, string) {
				shared := filepath.Join(root, "shared")
				require.NoError(t, os.Mkdir(shared, 0o700))
				require.NoError(t, os.Chmod(shared, 0o777))
				t.Cleanup(func() { _ = os.Chmod(shared, 0o700) })
				return filepath.Join(shared, "locks"), filepath.Join(root, "state")
			},
			act: func(m *Manager) error {
				_, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
				return err
			},
			want: "which other users can write to (mode 0777, not sticky) and so replace it",
		},
		{
			name: "state directory is a symlink",
			plant: func(t *testing.T, root string) (string, string) {
				target := filepath.Join(root, "attacker")
				require.NoError(t, os.Mkdir(target, 0o700))
				require.NoError(t, os.Symlink(target, filepath.Join(root, "state")))
				return filepath.Join(root, "locks"), filepath.Join(root, "state")
			},
			act:  func(m *Manager) error { return m.markCreating("kindstack") },
			want: "is a symbolic link, which kindstack never follows for its local state",
		},
		{
			name: "node-images directory is a symlink",
			plant: func(t *testing.T, root string) (string, string) {
				state := filepath.Join(root, "state")
				require.NoError(t, os.Mkdir(state, 0o700))
				target := filepath.Join(root, "attacker")
				require.NoError(t, os.Mkdir(target, 0o700))
				require.NoError(t, os.Symlink(target, filepath.Join(state, nodeImagesDir)))
				return filepath.Join(root, "locks"), state
			},
			act:  func(m *Manager) error { return m.RememberNodeImage("kindest/node:v1.35.0", "sha256:abc") },
			want: "node-images is a symbolic link",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			lockDir, stateDir := tt.plant(t, root)
			m := &Manager{LockDir: lockDir, StateDir: stateDir, FileOwner: tt.owner}
			err := tt.act(m)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if attacker := filepath.Join(root, "attacker"); fileExists(attacker) {
				assert.Empty(t, entries(t, attacker), "nothing was written where the link points")
			}
		})
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

func TestALockFileLinkedToAVictimFileIsRefusedAndTheVictimKept(t *testing.T) {
	t.Parallel()
	path, intact := victim(t)
	m := &Manager{LockDir: t.TempDir()}
	require.NoError(t, os.Symlink(path, filepath.Join(m.LockDir, "kindstack.lock")))

	_, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
	require.Error(t, err)
	assert.Equal(t, `lock cluster "kindstack": `+filepath.Join(m.LockDir, "kindstack.lock")+
		" is a symbolic link, which kindstack never follows for its local state; remove it and run again", err.Error())
	_, held := m.LockHolder("kindstack")
	assert.False(t, held, "status never reads the pid through the link")
	intact(t)
}

func TestStateFilesLinkedToAVictimAreNeitherReadNorWrittenThrough(t *testing.T) {
	t.Parallel()
	path, intact := victim(t)
	m := &Manager{StateDir: t.TempDir()}
	for _, name := range []string{"kindstack.json", "kindstack.creating"} {
		require.NoError(t, os.Symlink(path, filepath.Join(m.StateDir, name)))
	}
	_, ok := m.recorded("kindstack")
	assert.False(t, ok, "a linked record vouches for nothing")
	_, half := m.halfCreated("kindstack")
	assert.False(t, half, "a linked marker authorizes no delete")

	require.NoError(t, m.markCreating("kindstack"))
	require.NoError(t, m.recordCreated(StoredSpec{Spec: Spec{Name: "kindstack"}}, []string{"c0ffee"}))
	fi, err := os.Lstat(filepath.Join(m.StateDir, "kindstack.json"))
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link was replaced by kindstack's own file")
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	intact(t)
}

func TestLocalStateDirectoriesAreCreatedPrivateAndOldOnesTightened(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := &Manager{LockDir: filepath.Join(root, "run", "kindstack"), StateDir: filepath.Join(root, "cache", "kindstack", "clusters")}
	unlock, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
	require.NoError(t, err)
	unlock()
	require.NoError(t, m.RememberNodeImage("kindest/node:v1.35.0", "sha256:abc"))
	for _, dir := range []string{m.LockDir, m.StateDir, filepath.Join(m.StateDir, nodeImagesDir)} {
		fi, err := os.Lstat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), dir)
	}
	fi, err := os.Lstat(filepath.Join(m.LockDir, "kindstack.lock"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "the lock file is the user's alone")

	// An older kindstack made its state directory 0755: no one else could write into it, so it is
	// made private rather than refused.
	require.NoError(t, os.Chmod(m.StateDir, 0o755))
	require.NoError(t, m.markCreating("kindstack"))
	fi, err = os.Lstat(m.StateDir)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())

	// /tmp is writable by everyone but sticky: no one can replace another user's directory in it.
	sticky := filepath.Join(root, "tmp")
	require.NoError(t, os.Mkdir(sticky, 0o700))
	require.NoError(t, os.Chmod(sticky, 0o777|fs.ModeSticky))
	require.NoError(t, PrivateDir(filepath.Join(sticky, "kindstack-locks-1000")))
}

func TestALockFileWithALongerPidStillSaysTheHolder(t *testing.T) {
	t.Parallel()
	m := &Manager{LockDir: t.TempDir()}
	require.NoError(t, os.Chmod(m.LockDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(m.LockDir, "kindstack.lock"), []byte("4194304123\n"), 0o600))
	unlock, err := m.Lock(context.Background(), LockOptions{Name: "kindstack"})
	require.NoError(t, err)
	defer unlock()
	pid, held := m.LockHolder("kindstack")
	assert.True(t, held)
	assert.Equal(t, os.Getpid(), pid, "the pid is written over the last holder's, whatever its length")
}

func TestDoctorSaysWhenTheLocalStateIsNotTheUsersOwn(t *testing.T) {
	t.Parallel()
	m := &Manager{LockDir: filepath.Join(t.TempDir(), "not-yet"), StateDir: t.TempDir()}
	c := m.localStateCheck()
	assert.Equal(t, OK, c.Verdict, "a directory kindstack will create is fine: %s", c.Detail)

	require.NoError(t, os.Chmod(m.StateDir, 0o777))
	c = m.localStateCheck()
	assert.Equal(t, Fail, c.Verdict)
	assert.Equal(t, m.StateDir+" can be written by other users (mode 0777), so kindstack does not trust what it holds; remove it and run again (kindstack creates it private to you)", c.Detail)
}
