//go:build windows

package cluster

import (
	"errors"
	"io/fs"
	"os"
)

// privateModes: Windows has no unix permission bits (its ACLs keep a profile's directories to
// their user); the link and owner checks are what apply.
const privateModes = false

// openNoFollow: Windows has no O_NOFOLLOW; refuseLink looks first instead.
const openNoFollow = 0

// systemFileOwner cannot say through os.FileInfo on Windows.
func systemFileOwner(fs.FileInfo) (int, bool) { return 0, false }

func currentUID() int { return os.Getuid() }

func isLinkError(error) bool { return false }

// refuseLink is the best Windows offers without O_NOFOLLOW: a look (Lstat) just before the open.
func refuseLink(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		return linkError(path)
	}
	return nil
}
