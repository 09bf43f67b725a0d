package cluster

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real full file system, where this process may mount one: doctor's disk number is the kernel's.
func TestStatFreeBytesOfAFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs here (%v); the disk check is covered with a stand-in FreeBytes", err)
	}
	defer syscall.Unmount(dir, 0)
	free, err := StatFreeBytes(dir)
	require.NoError(t, err)
	assert.InDelta(t, 1<<20, free, 64<<10, "an empty 1 MiB tmpfs")
	f, err := os.Create(filepath.Join(dir, "fill"))
	require.NoError(t, err)
	_, _ = f.Write(make([]byte, 2<<20)) // fails with ENOSPC once it is full
	f.Close()
	free, err = StatFreeBytes(dir)
	require.NoError(t, err)
	assert.Less(t, free, int64(8<<10), "a full tmpfs has nothing left")
}
