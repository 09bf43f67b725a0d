package cluster

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// kindstack's local state (locks, records, remembered node images, caches) decides what it deletes
// and whom it waits for, and it runs as the user who owns the kubeconfig and the Docker socket. A
// directory another local user created first, or a symbolic link they planted, would let them
// block kindstack, fake what it reads, or make it write through the link into a file of the
// user's. So every such directory is the user's own, 0700, no link, checked on every use, and
// every file in it is opened without following a link.

// FileOwner says which user owns a file (its uid); false when the system cannot say (Windows).
type FileOwner func(fi fs.FileInfo) (uid int, known bool)

// fileOwner is the Manager's FileOwner, the system's when none is set.
func (m *Manager) fileOwner() FileOwner {
	if m.FileOwner != nil {
		return m.FileOwner
	}
	return systemFileOwner
}

// PrivateDir makes dir a directory only this user can change, creating it (0700, and any missing
// parent) if it does not exist, and refuses one that is not: see checkPrivateDir.
func PrivateDir(dir string) error {
	return privateDir(dir, true, systemFileOwner)
}

// errNoDir is privateDir's answer, without create, for a directory that does not exist yet.
var errNoDir = errors.New("no such directory")

// privateDir checks that dir is this user's own directory, private to them: not a symbolic link
// (never followed), owned by the current uid, no group or other write bit, in a parent no other
// user can replace it in (owned by the user or root, and sticky when others may write to it, as
// /tmp is). A directory of the user's that others may only read (an older kindstack made its
// directories 0755) is made 0700; anything else is refused with one sentence saying what to do.
// With create, a missing dir is made 0700; without it, a missing dir is errNoDir.
func privateDir(dir string, create bool, owner FileOwner) error {
	if dir == "" {
		return errors.New("kindstack has no directory for its local state (set XDG_RUNTIME_DIR, XDG_CACHE_HOME or HOME)")
	}
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return errNoDir
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
		}
		// Mkdir, not MkdirAll: a directory someone else made in between is an error here, and
		// is then checked like any other below.
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if err := checkDirInfo(dir, fi, owner); err != nil {
		return err
	}
	if err := checkParent(filepath.Dir(dir), dir, owner); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); privateModes && perm&0o077 != 0 {
		// Only the user could have written into it: taking the others' read bits away is safe.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private to you (chmod 700): %w", dir, err)
		}
	}
	return nil
}

// checkDirInfo refuses what Lstat found at dir unless it is a directory of the user's that no
// one else may write to.
func checkDirInfo(dir string, fi fs.FileInfo, owner FileOwner) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which kindstack never follows for its local state; remove the link and run again (kindstack creates the directory itself, private to you)", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it and run again (kindstack creates the directory itself, private to you)", dir)
	}
	if uid, known := owner(fi); known && uid != currentUID() {
		return fmt.Errorf("%s belongs to another user (uid %d), so kindstack does not trust what it holds; have it removed (sudo rm -r %s) and run again", dir, uid, dir)
	}
	if perm := fi.Mode().Perm(); privateModes && perm&0o022 != 0 {
		return fmt.Errorf("%s can be written by other users (mode %04o), so kindstack does not trust what it holds; remove it and run again (kindstack creates it private to you)", dir, perm)
	}
	return nil
}

// checkParent refuses a parent in which another user could replace dir: one owned by someone
// other than the user or root, or one others may write to without the sticky bit. The parent may
// be a link (a home directory often is); what it leads to is checked.
func checkParent(parent, dir string, owner FileOwner) error {
	fi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("check %s: %w", parent, err)
	}
	if uid, known := owner(fi); known && uid != currentUID() && uid != 0 {
		return fmt.Errorf("%s is in %s, which belongs to another user (uid %d) who could replace it; point kindstack elsewhere (XDG_RUNTIME_DIR, XDG_CACHE_HOME) and run again", dir, parent, uid)
	}
	if privateModes && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%s is in %s, which other users can write to (mode %04o, not sticky) and so replace it; point kindstack elsewhere (XDG_RUNTIME_DIR, XDG_CACHE_HOME) and run again", dir, parent, fi.Mode().Perm())
	}
	return nil
}

// openPrivateFile opens a file of kindstack's local state without following a symbolic link, and
// refuses anything but a regular file of the user's. Its directory is checked (privateDir) first.
func openPrivateFile(path string, flag int, owner FileOwner) (*os.File, error) {
	if err := refuseLink(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag|openNoFollow, 0o600)
	if err != nil {
		if isLinkError(err) {
			return nil, linkError(path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file; remove it and run again", path)
	}
	if uid, known := owner(fi); known && uid != currentUID() {
		f.Close()
		return nil, fmt.Errorf("%s belongs to another user (uid %d), so kindstack does not trust it; have it removed and run again", path, uid)
	}
	return f, nil
}

func linkError(path string) error {
	return fmt.Errorf("%s is a symbolic link, which kindstack never follows for its local state; remove it and run again", path)
}

// maxStateFile bounds what kindstack reads of one of its state files: they hold a pid or a spec.
const maxStateFile = 1 << 20

// readPrivateFile reads a file of kindstack's local state (openPrivateFile).
func readPrivateFile(path string, owner FileOwner) ([]byte, error) {
	f, err := openPrivateFile(path, os.O_RDONLY, owner)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxStateFile))
}

// writePrivateFile replaces dir/name with data, 0600: written under a new name (created
// exclusively, so never through a link) and renamed over it, which replaces a link rather than
// writing through it, and never leaves half a file.
func writePrivateFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
