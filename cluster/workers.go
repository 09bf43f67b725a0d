package cluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The memory a node of kindstack's cluster needs with the whole stack running, decided from a
// measurement on the test bed (`docker stats` of a 1+2 cluster right after `up`, three runs: control
// plane 528–563 MiB with the API server, etcd, the controllers and the ingress controller; workers
// 171–290 MiB with kubelet, containerd, kube-proxy, flannel, metrics-server and the example's pods)
// with about twice that as headroom: the test bed runs small stand-ins of the example's images,
// and the real frontend alone requests 256 MiB.
const (
	ControlPlaneMemory int64 = 1 << 30
	WorkerMemory       int64 = 512 << 20
)

// CheckWorkers says what is wrong with a worker count for a machine with available bytes of memory
// free (available < 0: unknown, only the count is checked): a negative count, or more nodes than
// the memory holds, saying what each node needs.
func CheckWorkers(workers int, available int64) error {
	if workers < 0 {
		return fmt.Errorf("--workers is %d; the number of worker nodes cannot be negative (0 runs everything on the control-plane node)", workers)
	}
	if workers == 0 || available < 0 {
		return nil
	}
	need := ControlPlaneMemory + int64(workers)*WorkerMemory
	if need <= available {
		return nil
	}
	fit := max((available-ControlPlaneMemory)/WorkerMemory, 0)
	return fmt.Errorf("--workers %d needs about %s of memory (%s for the control plane and %s for each worker), but this machine has %s available; "+
		"use --workers %d or fewer, or free memory", workers, humanBytes(need), humanBytes(ControlPlaneMemory), humanBytes(WorkerMemory), humanBytes(available), fit)
}

// memAvailable reads MemAvailable from meminfo under procRoot; false when it cannot tell (not Linux).
func memAvailable(procRoot string) (int64, bool) {
	f, err := os.Open(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// workersProblem is CheckWorkers for this machine: the memory is only asked about when nodes are
// about to be created.
func (m *Manager) workersProblem(workers int, creating bool) error {
	available := int64(-1)
	if creating {
		if a, ok := memAvailable(m.ProcRoot); ok {
			available = a
		}
	}
	return CheckWorkers(workers, available)
}
