package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kindstack/kindstack/internal/mirrors"
)

// fakeBesideEngine plays the container engine's CLI for containers and volumes: it keeps what
// was created, and every command it was asked to run.
type fakeBesideEngine struct {
	containers map[string]map[string]any // name -> inspect object
	volumes    map[string]map[string]string
	images     map[string]bool
	commands   []string
}

func newFakeBesideEngine() *fakeBesideEngine {
	return &fakeBesideEngine{containers: map[string]map[string]any{}, volumes: map[string]map[string]string{}, images: map[string]bool{}}
}

func (f *fakeBesideEngine) run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.commands = append(f.commands, strings.Join(args, " "))
	fail := func(msg string) ([]byte, error) { return []byte(msg), errors.New("exit status 1") }
	switch {
	case len(args) == 1 && args[0] == "-v":
		return []byte("Docker version 28.2.2, build e6534b4\n"), nil
	case args[0] == "version":
		return []byte("28.2.2\n"), nil
	case args[0] == "container" && args[1] == "inspect":
		c, ok := f.containers[args[2]]
		if !ok {
			return fail("Error: No such container: " + args[2])
		}
		return json.Marshal([]any{c})
	case args[0] == "volume" && args[1] == "inspect":
		l, ok := f.volumes[args[2]]
		if !ok {
			return fail("Error: No such volume: " + args[2])
		}
		return json.Marshal([]any{map[string]any{"Labels": l}})
	case args[0] == "volume" && args[1] == "create":
		f.volumes[args[len(args)-1]] = map[string]string{strings.Split(args[3], "=")[0]: strings.Split(args[3], "=")[1]}
	case args[0] == "volume" && args[1] == "rm":
		delete(f.volumes, args[2])
	case args[0] == "image" && args[1] == "inspect":
		if !f.images[args[len(args)-1]] {
			return fail("Error: No such image: " + args[len(args)-1])
		}
		return []byte("sha256:abc\n"), nil
	case args[0] == "pull":
		f.images[args[1]] = true
	case args[0] == "run":
		labels := map[string]string{}
		var cname, network string
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--label":
				k, v, _ := strings.Cut(args[i+1], "=")
				labels[k] = v
			case "--name":
				cname = args[i+1]
			case "--network":
				network = args[i+1]
			}
		}
		f.containers[cname] = inspectObject(labels, "running", network)
	case args[0] == "start":
		f.containers[args[1]]["State"] = map[string]any{"Status": "running", "Running": true}
	case args[0] == "rm":
		delete(f.containers, args[len(args)-1])
	case args[0] == "network" && args[1] == "connect":
		f.containers[args[3]]["NetworkSettings"] = map[string]any{"Networks": map[string]any{args[2]: map[string]any{}}}
	}
	return nil, nil
}

func inspectObject(labels map[string]string, state, network string) map[string]any {
	networks := map[string]any{}
	if network != "" {
		networks[network] = map[string]any{}
	}
	return map[string]any{
		"Config":          map[string]any{"Labels": labels},
		"State":           map[string]any{"Status": state, "Running": state == "running"},
		"NetworkSettings": map[string]any{"Networks": networks},
	}
}

func testRegistry(port int) Container {
	return Container{
		Name: "kindstack-registry", Image: "kindstack.test/distribution:v3.1.2",
		Env:  map[string]string{"REGISTRY_HTTP_ADDR": ":5000"},
		Port: 5000, ListenAddress: "127.0.0.1", HostPort: port,
		Volume: "kindstack-registry", VolumePath: "/var/lib/registry",
		Registry: "localhost:" + strconv.Itoa(port), Describe: "registry", PortFlag: "--registry-port",
	}
}

var docker = Runtime{Name: "docker", Binary: "docker"}

func TestEnsureContainerCreatesStartsAndFindsItRunning(t *testing.T) {
	t.Parallel()
	eng := newFakeBesideEngine()
	eng.images["kindstack.test/distribution:v3.1.2"] = true
	m := &Manager{Run: eng.run, Getenv: func(string) string { return "" }}
	c := testRegistry(5001)

	did, err := m.EnsureContainer(context.Background(), docker, c, mirrors.Registries{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "created", did)
	assert.Contains(t, eng.commands, "volume create --label dev.kindstack.managed-by=kindstack kindstack-registry")
	run := eng.commands[len(eng.commands)-1]
	assert.Equal(t, "run --detach --name kindstack-registry --network kind --restart unless-stopped --publish 127.0.0.1:5001:5000 "+
		"--volume kindstack-registry:/var/lib/registry --label dev.kindstack.managed-by=kindstack --label dev.kindstack.image=kindstack.test/distribution:v3.1.2 "+
		"--label dev.kindstack.address=127.0.0.1:5001 --env REGISTRY_HTTP_ADDR=:5000 kindstack.test/distribution:v3.1.2", run)
	assert.NotContains(t, strings.Join(eng.commands, "\n"), "pull", "the engine has the image")

	did, err = m.EnsureContainer(context.Background(), docker, c, mirrors.Registries{}, nil)
	require.NoError(t, err)
	assert.Empty(t, did, "a second up finds it running and changes nothing")

	eng.containers["kindstack-registry"]["State"] = map[string]any{"Status": "exited", "Running": false}
	did, err = m.EnsureContainer(context.Background(), docker, c, mirrors.Registries{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "started", did)
	assert.Equal(t, "start kindstack-registry", eng.commands[len(eng.commands)-1])

	st, err := m.ContainerState(context.Background(), docker, c)
	require.NoError(t, err)
	assert.True(t, st.Running)
	assert.Equal(t, "127.0.0.1:5001", st.Address)
}

func TestEnsureContainerPullsAMissingImageThroughTheMirrorsFirst(t *testing.T) {
	t.Parallel()
	eng := newFakeBesideEngine()
	m := &Manager{Run: eng.run, Getenv: func(string) string { return "" }}
	c := testRegistry(5001)
	c.Image = "docker.io/library/registry:3"
	r := mirrors.Registries{Mirrors: map[string][]string{"docker.io": {"https://docker.m.daocloud.io"}}}
	_, err := m.EnsureContainer(context.Background(), docker, c, r, nil)
	require.NoError(t, err)
	assert.Contains(t, eng.commands, "pull docker.m.daocloud.io/library/registry:3")
	assert.True(t, strings.HasSuffix(eng.commands[len(eng.commands)-1], " docker.m.daocloud.io/library/registry:3"), "it runs what it pulled")
}

func TestEnsureContainerLeavesWhatIsNotOursAndRefusesAnotherSpec(t *testing.T) {
	t.Parallel()
	eng := newFakeBesideEngine()
	m := &Manager{Run: eng.run, Getenv: func(string) string { return "" }}
	eng.containers["kindstack-registry"] = inspectObject(map[string]string{}, "running", "kind")
	_, err := m.EnsureContainer(context.Background(), docker, testRegistry(5001), mirrors.Registries{}, nil)
	assert.ErrorContains(t, err, "a container named kindstack-registry exists that kindstack did not create")

	eng.containers["kindstack-registry"] = inspectObject(map[string]string{
		besideOwnerLabel: besideOwner, besideImageLabel: "kindstack.test/distribution:v3.1.2", besideAddressLabel: "127.0.0.1:5001"}, "running", "kind")
	_, err = m.EnsureContainer(context.Background(), docker, testRegistry(5002), mirrors.Registries{}, nil)
	require.Error(t, err)
	assert.Equal(t, "registry kindstack-registry exists with a different spec (it listens on 127.0.0.1:5001, these settings want 127.0.0.1:5002); "+
		"`kindstack registry rm --keep-storage` removes the container and keeps its images", err.Error())
	for _, cmd := range eng.commands {
		assert.NotRegexp(t, `^(run|rm|start|volume create)`, cmd, "nothing changed")
	}
}

func TestRemoveContainerRemovesOnlyOursAndKeepsTheStorageWhenAsked(t *testing.T) {
	t.Parallel()
	eng := newFakeBesideEngine()
	eng.images["kindstack.test/distribution:v3.1.2"] = true
	m := &Manager{Run: eng.run, Getenv: func(string) string { return "" }}
	c := testRegistry(5001)
	_, err := m.EnsureContainer(context.Background(), docker, c, mirrors.Registries{}, nil)
	require.NoError(t, err)

	res, err := m.RemoveContainer(context.Background(), docker, c, true)
	require.NoError(t, err)
	assert.Equal(t, RemoveResult{Container: true}, res)
	assert.Contains(t, eng.volumes, "kindstack-registry", "--keep-storage keeps the images")

	res, err = m.RemoveContainer(context.Background(), docker, c, false)
	require.NoError(t, err)
	assert.Equal(t, RemoveResult{Volume: true}, res)
	assert.Empty(t, eng.volumes)

	res, err = m.RemoveContainer(context.Background(), docker, c, false)
	require.NoError(t, err, "already gone: success, like rm -f")
	assert.Equal(t, RemoveResult{}, res)

	eng.volumes["kindstack-registry"] = map[string]string{}
	eng.containers["kindstack-registry"] = inspectObject(map[string]string{}, "running", "kind")
	_, err = m.RemoveContainer(context.Background(), docker, c, false)
	assert.ErrorContains(t, err, "the container kindstack-registry was not created by kindstack, so kindstack leaves it alone")
	delete(eng.containers, "kindstack-registry")
	_, err = m.RemoveContainer(context.Background(), docker, c, false)
	assert.ErrorContains(t, err, "the volume kindstack-registry was not created by kindstack, so kindstack leaves it alone")
	assert.Contains(t, eng.volumes, "kindstack-registry")
}

func TestPreflightChecksTheContainersBesideTheNodes(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free := freePort(t)

	preflight := func(eng *fakeBesideEngine, c Container, r mirrors.Registries) error {
		m := testManager(t, nil, fakeRuntime{}, &fakeProvider{}, nil)
		m.Run = eng.run
		spec := Spec{Name: "kindstack", NodeImage: "kindest/node:v1.35.8", ListenAddress: "127.0.0.1", HTTPPort: freePort(t), HTTPSPort: freePort(t)}
		_, err := m.Preflight(context.Background(), PreflightOptions{Spec: spec, Containers: []Container{c}, Registries: r})
		return err
	}
	assert.NoError(t, preflight(newFakeBesideEngine(), testRegistry(free), mirrors.Registries{}))

	err = preflight(newFakeBesideEngine(), testRegistry(busyPort), mirrors.Registries{})
	assert.EqualError(t, err, "preflight: registry: port "+strconv.Itoa(busyPort)+" on 127.0.0.1 is already in use by another program; stop it or choose another port with --registry-port")

	ours := newFakeBesideEngine()
	ours.containers["kindstack-registry"] = inspectObject(map[string]string{
		besideOwnerLabel: besideOwner, besideImageLabel: "kindstack.test/distribution:v3.1.2", besideAddressLabel: "127.0.0.1:" + strconv.Itoa(busyPort)}, "running", "kind")
	assert.NoError(t, preflight(ours, testRegistry(busyPort), mirrors.Registries{}), "the port is held by our registry itself")
	assert.ErrorContains(t, preflight(ours, testRegistry(free), mirrors.Registries{}), "registry kindstack-registry exists with a different spec")

	bad := testRegistry(free)
	bad.ListenAddress = "localhost"
	assert.EqualError(t, preflight(newFakeBesideEngine(), bad, mirrors.Registries{}),
		`preflight: registry: listen address "localhost" is not an IP address; use 127.0.0.1 (or 0.0.0.0 for every interface)`)

	r := mirrors.Registries{Mirrors: map[string][]string{"localhost:" + strconv.Itoa(free): {"http://10.0.0.5:5000"}}}
	assert.ErrorContains(t, preflight(newFakeBesideEngine(), testRegistry(free), r), "has mirrors and is kindstack's local registry too")
}

func TestTheNodesPullTheLocalRegistryThroughItsHostsFile(t *testing.T) {
	t.Parallel()
	node := &fakeNode{files: map[string]string{}, config: criConfig}
	m := &Manager{Run: node.run, RunInput: node.runInput}
	r := withLocal(chinaMirrors(), []Container{testRegistry(5001)})
	change, err := m.ApplyMirrors(context.Background(), docker, "x", r)
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost:5001"}, change.LocalWritten)
	assert.Contains(t, change.String(), "nodes pull localhost:5001 from the local registry")

	var hosts struct {
		Server string `toml:"server"`
		Host   map[string]struct {
			Capabilities []string `toml:"capabilities"`
		} `toml:"host"`
	}
	_, err = toml.Decode(node.files["/etc/containerd/certs.d/localhost:5001/hosts.toml"], &hosts)
	require.NoError(t, err)
	assert.Empty(t, hosts.Server, "no upstream to fall back to")
	assert.Equal(t, []string{"pull", "resolve"}, hosts.Host["http://kindstack-registry:5000"].Capabilities)
	assert.Len(t, hosts.Host, 1)

	change, err = m.ApplyMirrors(context.Background(), docker, "x", chinaMirrors())
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost:5001"}, change.LocalRemoved, "an up without the registry removes its hosts file")
	assert.NotContains(t, node.files, "/etc/containerd/certs.d/localhost:5001/hosts.toml")
	assert.Contains(t, node.files, "/etc/containerd/certs.d/docker.io/hosts.toml", "the mirrors stay")
}
