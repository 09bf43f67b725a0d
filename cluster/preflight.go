package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// MaxNameLength is kind's limit: a node's hostname is the name plus "-control-plane" and hostnames
// stop at 64 characters.
const MaxNameLength = 50

var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// ValidateName applies kind's cluster-name rules (lowercase letters, digits, '-' and '.';
// at most 50 characters), requiring a letter or digit at both ends so the name is a valid hostname.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("the cluster name is empty; set --name or KINDSTACK_CLUSTER_NAME")
	case len(name) > MaxNameLength:
		return fmt.Errorf("cluster name %q is %d characters long; kind allows at most %d", name, len(name), MaxNameLength)
	case !validName.MatchString(name):
		return fmt.Errorf("cluster name %q is invalid: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
	return nil
}

// PortCheck says how to reach a host port and which flag sets it, for a message a person can act on.
type PortCheck struct {
	Port int
	Flag string // e.g. "--http-port"
}

// CheckPort tries to listen on address:port exactly as the runtime will, and says which port is
// busy. A permission error is not reported: the engine binds as root, kindstack may not.
func CheckPort(listen func(network, address string) (net.Listener, error), address string, pc PortCheck) error {
	if pc.Port < 1 || pc.Port > 65535 {
		return fmt.Errorf("port %d (%s) is not a valid TCP port; use 1-65535", pc.Port, pc.Flag)
	}
	l, err := listen("tcp", net.JoinHostPort(address, strconv.Itoa(pc.Port)))
	if err == nil {
		return l.Close()
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %d on %s is already in use by another program; stop it or choose another port with %s", pc.Port, address, pc.Flag)
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("listen address %s is not an address of this machine; use --listen-address 127.0.0.1 or one of this host's addresses", address)
	}
	return nil
}

// PreflightOptions are the inputs of Preflight.
type PreflightOptions struct {
	Spec Spec
	// ConfigErr is a config file that failed to load; it is reported with every other problem.
	ConfigErr error
	// Replacing: the existing cluster of this name is deleted first (recreate), so the ports it
	// holds will be free, and every other wanted port must be free now, before the delete.
	Replacing bool
	// Containers run beside the nodes (a local registry): their names, ports and specs are
	// checked too; Registries are the node's mirrors, which must not name their registries.
	Containers []Container
	Registries mirrors.Registries
}

// PreflightReport is what Preflight learnt, for the steps that follow.
type PreflightReport struct {
	Runtime       Runtime
	EngineVersion string
	Exists        bool     // a cluster with this name exists already (its host ports are its own)
	Warnings      []string // things that work today but will bite, e.g. a cgroup v1 host
}

// PreflightError lists every failing check, one sentence each.
type PreflightError struct{ Problems []error }

func (e *PreflightError) Error() string {
	if len(e.Problems) == 1 {
		return "preflight: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "preflight found %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		// A problem with several parts (e.g. a config file with two bad fields) keeps them under its bullet.
		b.WriteString("\n  - " + strings.ReplaceAll(p.Error(), "\n", "\n    "))
	}
	return b.String()
}

// Unwrap lets errors.Is/As see each problem.
func (e *PreflightError) Unwrap() []error { return e.Problems }

// Preflight checks everything `up` needs before changing anything and reports every failing
// check at once: the config file, the cluster name, the listen address and host ports, and that a
// node provider is installed AND its engine answers.
func (m *Manager) Preflight(ctx context.Context, opts PreflightOptions) (PreflightReport, error) {
	var report PreflightReport
	var problems []error
	if opts.ConfigErr != nil {
		problems = append(problems, opts.ConfigErr)
	}
	spec := opts.Spec
	nameErr := ValidateName(spec.Name)
	if nameErr != nil {
		problems = append(problems, nameErr)
	}
	addrOK := true
	if net.ParseIP(spec.ListenAddress) == nil {
		addrOK = false
		problems = append(problems, fmt.Errorf("listen address %q is not an IP address; use --listen-address 127.0.0.1 (or 0.0.0.0 for every interface)", spec.ListenAddress))
	}
	if spec.HTTPPort == spec.HTTPSPort {
		problems = append(problems, fmt.Errorf("--http-port and --https-port are both %d; they must differ", spec.HTTPPort))
	}

	rt, version, err := m.engine(ctx, func(msg string) { report.Warnings = append(report.Warnings, msg) })
	report.Runtime, report.EngineVersion = rt, version
	if err != nil {
		problems = append(problems, err)
	} else if nameErr == nil {
		names, err := m.NewProvider(rt, nil).List()
		if err != nil {
			problems = append(problems, fmt.Errorf("list kind clusters with %s: %w", rt.Name, err))
		}
		report.Exists = slices.Contains(names, spec.Name)
	}

	// An existing cluster holds its own ports; checking them would only find ourselves. One that
	// recreate replaces frees the ports it holds, and nothing else.
	var held *Spec
	if report.Exists && opts.Replacing {
		held = m.knownSpec(ctx, report.Runtime, spec.Name)
	}
	if addrOK && (!report.Exists || opts.Replacing) {
		for _, pc := range []PortCheck{{spec.HTTPPort, "--http-port"}, {spec.HTTPSPort, "--https-port"}} {
			if held != nil && held.ListenAddress == spec.ListenAddress && (pc.Port == held.HTTPPort || pc.Port == held.HTTPSPort) {
				continue
			}
			if err := CheckPort(m.Listen, spec.ListenAddress, pc); err != nil {
				problems = append(problems, err)
			}
		}
	}

	if report.EngineVersion != "" && addrOK {
		held := []PortCheck{{spec.HTTPPort, "--http-port"}, {spec.HTTPSPort, "--https-port"}}
		for _, c := range opts.Containers {
			problems = append(problems, m.checkContainer(ctx, report.Runtime, c, held, spec.ListenAddress)...)
		}
	}
	if err := withLocal(opts.Registries, opts.Containers).Check(); err != nil {
		problems = append(problems, err)
	}
	if err := m.workersProblem(spec.Workers, !report.Exists || opts.Replacing); err != nil {
		problems = append(problems, err)
	}

	// Only worth saying when creation could go ahead: a runtime answers and no cluster exists yet.
	if report.EngineVersion != "" && !report.Exists && !m.CgroupV2() && imageNeedsCgroupV2(spec.NodeImage) {
		report.Warnings = append(report.Warnings, fmt.Sprintf(
			"this host uses cgroup v1, and the kubelet of Kubernetes 1.35 and newer refuses to start on cgroup v1; "+
				"if the cluster does not come up, use a 1.34 node image: --image %s", CgroupV1NodeImage))
	}
	// The fast one of doctor's warnings, only where even one cluster is likely to hit it (doctor
	// advises kind's recommended limits, which most distributions' defaults are below).
	if ino := m.inotifyCheck(); ino.Verdict == Warn && inotifyTooLowForOne(m.ProcRoot) {
		report.Warnings = append(report.Warnings, "inotify limits are low ("+ino.Detail+"); "+ino.Fix)
	}
	if len(problems) > 0 {
		return report, &PreflightError{Problems: problems}
	}
	return report, nil
}

var imageMinor = regexp.MustCompile(`:v1\.(\d+)\.`)

// imageNeedsCgroupV2 reports whether a node image's Kubernetes is 1.35 or newer (or unknown).
func imageNeedsCgroupV2(image string) bool {
	m := imageMinor.FindStringSubmatch(image)
	if m == nil {
		return true
	}
	minor, _ := strconv.Atoi(m[1])
	return minor >= 35
}

// knownSpec returns the spec an existing cluster was created with: from the cluster itself, else
// from this machine's record; nil when neither says.
func (m *Manager) knownSpec(ctx context.Context, rt Runtime, name string) *Spec {
	ctx, cancel := context.WithTimeout(ctx, ownershipWait)
	defer cancel()
	if _, client, err := m.connect(m.NewProvider(rt, nil), name); err == nil {
		if stored, err := ReadStoredSpec(ctx, client); err == nil && stored != nil {
			return &stored.Spec
		}
	}
	if rec, ok := m.recorded(name); ok && m.identityOf(ctx, rt, name, rec.Nodes) == "" {
		return &rec.Spec
	}
	return nil
}
