// Command install-cni copies the test bed's flannel CNI config into the node's CNI config
// directory (the DaemonSet's init container; the flannel image has no cp). The copy is written
// next to its destination and renamed, so the kubelet never reads half a file.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func install(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-cni-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: install-cni SRC DST")
		os.Exit(2)
	}
	if err := install(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "install-cni: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("installed %s as %s\n", os.Args[1], os.Args[2])
}
