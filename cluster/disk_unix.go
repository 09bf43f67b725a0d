//go:build unix

package cluster

import "syscall"

// StatFreeBytes is the real FreeBytes: what an unprivileged writer can still use under path.
func StatFreeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
