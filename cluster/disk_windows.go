//go:build windows

package cluster

import "golang.org/x/sys/windows"

// StatFreeBytes is the real FreeBytes: what the caller can still use on path's volume.
func StatFreeBytes(path string) (int64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, err
	}
	return int64(free), nil
}
