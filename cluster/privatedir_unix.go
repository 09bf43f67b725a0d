//go:build unix

package cluster

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// privateModes: unix permission bits say who may write to a directory.
const privateModes = true

// openNoFollow makes opening a symbolic link fail (ELOOP) instead of opening what it points to.
const openNoFollow = syscall.O_NOFOLLOW

func systemFileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

func currentUID() int { return os.Getuid() }

func isLinkError(err error) bool { return errors.Is(err, syscall.ELOOP) }

// refuseLink has nothing to do on unix: O_NOFOLLOW refuses the link atomically.
func refuseLink(string) error { return nil }
