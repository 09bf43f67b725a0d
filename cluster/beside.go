package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// Container is a container kindstack runs beside a cluster's nodes, on kind's network, where the
// nodes reach it by its name (a local registry). It is not the cluster's: deleting the cluster
// leaves it and its volume, which hold the user's data; RemoveContainer removes both.
type Container struct {
	// Name is the container's name and the host name the nodes reach it by.
	Name  string
	Image string
	// Env are its environment variables; it runs the image's own command.
	Env map[string]string
	// Port is the TCP port it serves on inside, published at ListenAddress:HostPort.
	Port          int
	ListenAddress string
	HostPort      int
	// Volume is a named volume mounted at VolumePath.
	Volume, VolumePath string
	// Registry, when set, is the registry name (localhost:5001) every node pulls from this
	// container over plain HTTP, through a containerd hosts.toml.
	Registry string
	// Describe names it for people ("registry"); `kindstack <Describe> rm` removes it.
	Describe string
	// PortFlag is the flag that sets HostPort, for messages ("--registry-port").
	PortFlag string
}

// withLocal returns r with the registries the containers serve to the nodes.
func withLocal(r mirrors.Registries, cs []Container) mirrors.Registries {
	for _, c := range cs {
		if c.Registry == "" {
			continue
		}
		local := map[string]string{}
		for k, v := range r.Local {
			local[k] = v
		}
		local[c.Registry] = c.Endpoint()
		r.Local = local
	}
	return r
}

// Labels on what kindstack creates beside the nodes: whose it is, and the spec it was created
// with (a later up compares it; a change is the user's decision, never made silently).
const (
	besideOwnerLabel   = "dev.kindstack.managed-by"
	besideOwner        = "kindstack"
	besideImageLabel   = "dev.kindstack.image"
	besideAddressLabel = "dev.kindstack.address"
)

// Address is where this machine reaches it: ListenAddress:HostPort.
func (c Container) Address() string {
	return net.JoinHostPort(c.ListenAddress, strconv.Itoa(c.HostPort))
}

// Endpoint is the plain-HTTP URL the nodes reach it at, on kind's network.
func (c Container) Endpoint() string {
	return "http://" + net.JoinHostPort(c.Name, strconv.Itoa(c.Port))
}

// removeCommand is what the user runs to remove it.
func (c Container) removeCommand() string { return "kindstack " + c.Describe + " rm" }

// ContainerState is what the engine says of a container beside the nodes.
type ContainerState struct {
	Name     string `json:"name"`
	Describe string `json:"describe"`
	// Exists: a container of that name exists; Ours: kindstack created it.
	Exists bool `json:"exists"`
	Ours   bool `json:"ours"`
	// State is the engine's word for it: running, exited, paused, created …
	State   string `json:"state,omitempty"`
	Running bool   `json:"running"`
	// Image and Address are what it was created with (its labels).
	Image   string `json:"image,omitempty"`
	Address string `json:"address,omitempty"`
	// Networks are the networks it is attached to.
	Networks []string `json:"-"`
}

// inspectedContainer is the part of `<engine> container inspect` kindstack reads (Docker,
// Podman and nerdctl all print these fields).
type inspectedContainer struct {
	Config struct {
		Labels map[string]string
	}
	State struct {
		Status  string
		Running bool
	}
	NetworkSettings struct {
		Networks map[string]json.RawMessage
	}
}

// notFound reports whether an engine's error output says the object does not exist.
func notFound(out []byte) bool {
	return strings.Contains(strings.ToLower(string(out)), "no such")
}

// ContainerState inspects the container c names, without changing anything.
func (m *Manager) ContainerState(ctx context.Context, rt Runtime, c Container) (ContainerState, error) {
	st := ContainerState{Name: c.Name, Describe: c.Describe}
	out, err := m.Run(ctx, rt.Binary, "container", "inspect", c.Name)
	if err != nil {
		if notFound(out) {
			return st, nil
		}
		return st, fmt.Errorf("inspect container %s: %s: %w", c.Name, lastLine(out), err)
	}
	var list []inspectedContainer
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 {
		return st, fmt.Errorf("inspect container %s: unexpected answer from %s", c.Name, rt.Name)
	}
	got := list[0]
	st.Exists = true
	st.Ours = got.Config.Labels[besideOwnerLabel] == besideOwner
	st.State, st.Running = got.State.Status, got.State.Running
	st.Image, st.Address = got.Config.Labels[besideImageLabel], got.Config.Labels[besideAddressLabel]
	for n := range got.NetworkSettings.Networks {
		st.Networks = append(st.Networks, n)
	}
	sort.Strings(st.Networks)
	return st, nil
}

// differs says how an existing container of ours differs from c, or "".
func (st ContainerState) differs(c Container) string {
	var diff []string
	if st.Address != c.Address() {
		diff = append(diff, fmt.Sprintf("it listens on %s, these settings want %s", st.Address, c.Address()))
	}
	if st.Image != c.Image {
		diff = append(diff, fmt.Sprintf("it runs %s, these settings want %s", st.Image, c.Image))
	}
	return strings.Join(diff, "; ")
}

// checkContainer says, before anything changes, what stops c from being created or reused: a
// container of its name kindstack did not create, one of ours made with another spec, or a busy
// host port. held lists the host ports the cluster itself takes (its HTTP/HTTPS ports).
func (m *Manager) checkContainer(ctx context.Context, rt Runtime, c Container, held []PortCheck, listenAddress string) []error {
	var problems []error
	if net.ParseIP(c.ListenAddress) == nil {
		return []error{fmt.Errorf("%s: listen address %q is not an IP address; use 127.0.0.1 (or 0.0.0.0 for every interface)", c.Describe, c.ListenAddress)}
	}
	if c.HostPort < 1 || c.HostPort > 65535 {
		return []error{fmt.Errorf("%s: port %d is not a TCP port (1-65535)", c.Describe, c.HostPort)}
	}
	for _, h := range held {
		if h.Port == c.HostPort && overlaps(listenAddress, c.ListenAddress) {
			problems = append(problems, fmt.Errorf("%s: port %d is the cluster's %s too; choose another port for one of them", c.Describe, c.HostPort, h.Flag))
		}
	}
	st, err := m.ContainerState(ctx, rt, c)
	switch {
	case err != nil:
		return append(problems, err)
	case st.Exists && !st.Ours:
		return append(problems, fmt.Errorf("%s: a container named %s exists that kindstack did not create; kindstack leaves it alone: remove or rename it (`%s rm -f %s`)",
			c.Describe, c.Name, rt.Binary, c.Name))
	case st.Exists:
		if d := st.differs(c); d != "" {
			return append(problems, fmt.Errorf("%s %s exists with a different spec (%s): `%s --keep-storage` removes the container and keeps its images, the next `kindstack up` creates it again; or keep its settings",
				c.Describe, c.Name, d, c.removeCommand()))
		}
		if st.Running {
			return problems // it holds its own port
		}
	}
	if err := CheckPort(m.Listen, c.ListenAddress, PortCheck{Port: c.HostPort, Flag: c.PortFlag}); err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", c.Describe, err))
	}
	return problems
}

// overlaps reports whether two listen addresses can clash on one port.
func overlaps(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia == nil || ib == nil {
		return a == b
	}
	return ia.Equal(ib) || ia.IsUnspecified() || ib.IsUnspecified()
}

// kindNetwork is the network kind puts the nodes on: "kind", unless kind is told otherwise.
func (m *Manager) kindNetwork(rt Runtime) string {
	env := "KIND_EXPERIMENTAL_DOCKER_NETWORK"
	if rt.Name == "podman" {
		env = "KIND_EXPERIMENTAL_PODMAN_NETWORK"
	}
	if n := m.getenv(env); n != "" {
		return n
	}
	return "kind"
}

// EnsureContainer creates c on kind's network, or starts it when it is stopped, or finds it
// running; a container of ours is attached to the network again if it left it. Its volume is
// created when missing and reused when it is ours. It returns what it did ("created", "started",
// "" when nothing). The spec of an existing one was checked by Preflight; it is checked again.
func (m *Manager) EnsureContainer(ctx context.Context, rt Runtime, c Container, r mirrors.Registries, logf Logf) (string, error) {
	logf = orNop(logf)
	st, err := m.ContainerState(ctx, rt, c)
	if err != nil {
		return "", err
	}
	network := m.kindNetwork(rt)
	switch {
	case st.Exists && !st.Ours:
		return "", fmt.Errorf("a container named %s exists that kindstack did not create; kindstack leaves it alone", c.Name)
	case st.Exists && st.differs(c) != "":
		return "", fmt.Errorf("%s %s exists with a different spec (%s); `%s --keep-storage` removes the container and keeps its images", c.Describe, c.Name, st.differs(c), c.removeCommand())
	case st.Exists:
		did := ""
		if !slices.Contains(st.Networks, network) {
			if out, err := m.Run(ctx, rt.Binary, "network", "connect", network, c.Name); err != nil {
				return "", fmt.Errorf("attach %s to network %s: %s: %w", c.Name, network, lastLine(out), err)
			}
			did = "attached to network " + network
		}
		if !st.Running {
			if out, err := m.Run(ctx, rt.Binary, "start", c.Name); err != nil {
				return "", fmt.Errorf("start %s: %s: %w", c.Name, lastLine(out), err)
			}
			did = strings.TrimPrefix(did+", started", ", ")
		}
		return did, nil
	}
	if err := m.ensureVolume(ctx, rt, c); err != nil {
		return "", err
	}
	image, err := m.hostImage(ctx, rt, c.Image, r, logf)
	if err != nil {
		return "", err
	}
	args := []string{"run", "--detach", "--name", c.Name, "--network", network, "--restart", "unless-stopped",
		"--publish", c.Address() + ":" + strconv.Itoa(c.Port),
		"--volume", c.Volume + ":" + c.VolumePath,
		"--label", besideOwnerLabel + "=" + besideOwner,
		"--label", besideImageLabel + "=" + c.Image,
		"--label", besideAddressLabel + "=" + c.Address()}
	for _, k := range sortedKeys(c.Env) {
		args = append(args, "--env", k+"="+c.Env[k])
	}
	args = append(args, image)
	logf("creating %s %s (%s) on network %s, published on %s", c.Describe, c.Name, image, network, c.Address())
	if out, err := m.Run(ctx, rt.Binary, args...); err != nil {
		// A half-made container (created, not started: its port was taken meanwhile) would be
		// taken for a working one by the next up.
		_, _ = m.Run(context.WithoutCancel(ctx), rt.Binary, "rm", "-f", c.Name)
		return "", fmt.Errorf("run %s %s: %s: %w", c.Describe, c.Name, lastLine(out), err)
	}
	return "created", nil
}

// ensureVolume creates c's volume, labelled as kindstack's, or finds one of ours.
func (m *Manager) ensureVolume(ctx context.Context, rt Runtime, c Container) error {
	labels, exists, err := m.volumeLabels(ctx, rt, c.Volume)
	if err != nil {
		return err
	}
	if exists {
		if labels[besideOwnerLabel] != besideOwner {
			return fmt.Errorf("a volume named %s exists that kindstack did not create; kindstack leaves it alone: remove or rename it", c.Volume)
		}
		return nil
	}
	if out, err := m.Run(ctx, rt.Binary, "volume", "create", "--label", besideOwnerLabel+"="+besideOwner, c.Volume); err != nil {
		return fmt.Errorf("create volume %s: %s: %w", c.Volume, lastLine(out), err)
	}
	return nil
}

// volumeLabels reads a volume's labels; exists is false when there is no such volume.
func (m *Manager) volumeLabels(ctx context.Context, rt Runtime, volume string) (map[string]string, bool, error) {
	out, err := m.Run(ctx, rt.Binary, "volume", "inspect", volume)
	if err != nil {
		if notFound(out) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("inspect volume %s: %s: %w", volume, lastLine(out), err)
	}
	var list []struct{ Labels map[string]string }
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 {
		return nil, false, fmt.Errorf("inspect volume %s: unexpected answer from %s", volume, rt.Name)
	}
	return list[0].Labels, true, nil
}

// hostImage makes sure the host's engine has image: it is used as it is when the engine has it,
// else pulled through each mirror of its registry in order, else from its registry. It returns
// the reference to run.
func (m *Manager) hostImage(ctx context.Context, rt Runtime, image string, r mirrors.Registries, logf Logf) (string, error) {
	if _, err := m.hostImageID(ctx, rt, image); err == nil {
		return image, nil
	}
	mirrored, _ := r.MirroredImage(image)
	for _, ref := range mirrored {
		if _, err := m.hostImageID(ctx, rt, ref); err == nil {
			return ref, nil
		}
		logf("pulling %s", ref)
		out, err := m.Run(ctx, rt.Binary, "pull", ref)
		if err == nil {
			return ref, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("pull %s: %w", ref, ctx.Err())
		}
		logf("%s not pulled through that mirror: %s", ref, lastLine(out))
	}
	logf("pulling %s", image)
	if out, err := m.Run(ctx, rt.Binary, "pull", image); err != nil {
		return "", fmt.Errorf("pull %s: %s: %w", image, lastLine(out), err)
	}
	return image, nil
}

// RemoveResult says what RemoveContainer removed.
type RemoveResult struct {
	Container bool `json:"container"` // the container existed and was removed
	Volume    bool `json:"volume"`    // its volume existed and was removed
}

// RemoveContainer removes c and, unless keepVolume, its volume: only what kindstack created. A
// container or volume that is already gone is success ("like rm -f"); one kindstack did not
// create is refused before anything is removed.
func (m *Manager) RemoveContainer(ctx context.Context, rt Runtime, c Container, keepVolume bool) (RemoveResult, error) {
	var res RemoveResult
	st, err := m.ContainerState(ctx, rt, c)
	if err != nil {
		return res, err
	}
	if st.Exists && !st.Ours {
		return res, fmt.Errorf("the container %s was not created by kindstack, so kindstack leaves it alone", c.Name)
	}
	labels, volExists, err := m.volumeLabels(ctx, rt, c.Volume)
	if err != nil {
		return res, err
	}
	removeVolume := volExists && !keepVolume
	if removeVolume && labels[besideOwnerLabel] != besideOwner {
		return res, fmt.Errorf("the volume %s was not created by kindstack, so kindstack leaves it alone", c.Volume)
	}
	if st.Exists {
		if out, err := m.Run(ctx, rt.Binary, "rm", "--force", c.Name); err != nil && !notFound(out) {
			return res, fmt.Errorf("remove container %s: %s: %w", c.Name, lastLine(out), err)
		}
		res.Container = true
	}
	if removeVolume {
		if out, err := m.Run(ctx, rt.Binary, "volume", "rm", c.Volume); err != nil && !notFound(out) {
			return res, fmt.Errorf("remove volume %s: %s: %w", c.Volume, lastLine(out), err)
		}
		res.Volume = true
	}
	return res, nil
}

// ContainerLogs returns what the container logged (stdout and stderr).
func (m *Manager) ContainerLogs(ctx context.Context, rt Runtime, name string) ([]byte, error) {
	out, err := m.Run(ctx, rt.Binary, "logs", "--timestamps", name)
	if err != nil {
		return out, fmt.Errorf("logs of %s: %s: %w", name, lastLine(out), err)
	}
	return out, nil
}

// besideCheck is doctor's line for the host port of a container beside the nodes: free, or held
// by that very container of kindstack's.
func (m *Manager) besideCheck(ctx context.Context, rt Runtime, engineUp bool, c Container) Check {
	ch := Check{Name: fmt.Sprintf("%s port %d", c.Describe, c.HostPort), Verdict: OK}
	flag := c.PortFlag
	if engineUp {
		st, err := m.ContainerState(ctx, rt, c)
		switch {
		case err != nil:
			ch.Verdict, ch.Detail = Warn, err.Error()
			return ch
		case st.Exists && !st.Ours:
			ch.Verdict, ch.Detail = Fail, fmt.Sprintf("a container named %s exists that kindstack did not create", c.Name)
			ch.Fix = fmt.Sprintf("remove or rename it (`%s rm -f %s`)", rt.Binary, c.Name)
			return ch
		case st.Exists && st.differs(c) != "":
			ch.Verdict, ch.Detail = Fail, fmt.Sprintf("%s %s exists with a different spec (%s)", c.Describe, c.Name, st.differs(c))
			ch.Fix = "`" + c.removeCommand() + " --keep-storage` removes the container and keeps its images; the next `kindstack up` creates it again"
			return ch
		case st.Running:
			ch.Detail = fmt.Sprintf("held by kindstack's %s %s", c.Describe, c.Name)
			return ch
		}
	}
	err := CheckPort(m.Listen, c.ListenAddress, PortCheck{Port: c.HostPort, Flag: flag})
	switch {
	case err == nil:
		ch.Detail = "free on " + c.ListenAddress
	case !m.portInUse(c.ListenAddress, c.HostPort):
		ch.Verdict, ch.Detail, ch.Fix = Fail, err.Error(), "choose another port with "+flag
	default:
		ch.Verdict, ch.Fix = Fail, "stop what holds it, or choose another port with "+flag
		ch.Detail = fmt.Sprintf("port %d on %s is already in use by another program", c.HostPort, c.ListenAddress)
		if engineUp {
			if holder := m.portHolder(ctx, rt, c.HostPort); holder != "" {
				ch.Detail = fmt.Sprintf("port %d on %s is held by %s", c.HostPort, c.ListenAddress, holder)
			}
		}
	}
	return ch
}
