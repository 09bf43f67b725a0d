package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kindstack/kindstack/internal/cli"
	"github.com/kindstack/kindstack/internal/kube"
)

// engineCLI plays the host's container engine around a machine's node: containers and volumes
// beside the node, and the node's own files (its hosts.toml files) behind `docker exec`.
type engineCLI struct {
	mu         sync.Mutex
	containers map[string]map[string]any // name -> inspect object
	volumes    map[string]bool
	nodeFiles  map[string]string
	commands   []string
	fallback   func(ctx context.Context, name string, args ...string) ([]byte, error)
}

const criConfigPath = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`

func (e *engineCLI) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.commands = append(e.commands, strings.Join(args, " "))
	fail := func(msg string) ([]byte, error) { return []byte(msg), errors.New("exit status 1") }
	switch {
	case len(args) > 2 && args[0] == "container" && args[1] == "inspect":
		c, ok := e.containers[args[2]]
		if !ok {
			return fail("Error: No such container: " + args[2])
		}
		return json.Marshal([]any{c})
	case len(args) > 2 && args[0] == "volume" && args[1] == "inspect":
		if !e.volumes[args[2]] {
			return fail("Error: No such volume: " + args[2])
		}
		return []byte(`[{"Labels":{"dev.kindstack.managed-by":"kindstack"}}]`), nil
	case len(args) > 2 && args[0] == "volume" && args[1] == "create":
		e.volumes[args[len(args)-1]] = true
		return nil, nil
	case len(args) > 2 && args[0] == "volume" && args[1] == "rm":
		delete(e.volumes, args[2])
		return nil, nil
	case len(args) > 2 && args[0] == "image" && args[1] == "inspect" && strings.Contains(args[len(args)-1], "registry"):
		return []byte("sha256:abc\n"), nil
	case args[0] == "run":
		labels := map[string]string{}
		var cname string
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--label":
				k, v, _ := strings.Cut(args[i+1], "=")
				labels[k] = v
			case "--name":
				cname = args[i+1]
			}
		}
		e.containers[cname] = map[string]any{"Config": map[string]any{"Labels": labels},
			"State": map[string]any{"Status": "running", "Running": true}, "NetworkSettings": map[string]any{"Networks": map[string]any{"kind": map[string]any{}}}}
		return nil, nil
	case args[0] == "rm":
		delete(e.containers, args[len(args)-1])
		return nil, nil
	case args[0] == "logs":
		return []byte("level=info msg=\"listening on [::]:5000\"\n"), nil
	case args[0] == "ps":
		return []byte("kindstack-control-plane\trunning\n"), nil
	case args[0] == "exec" && len(args) > 3:
		argv := args[2:]
		switch argv[0] {
		case "containerd":
			return []byte(criConfigPath), nil
		case "sh":
			var b strings.Builder
			for p, content := range e.nodeFiles {
				b.WriteString("==> " + p + "\n" + content)
			}
			return []byte(b.String()), nil
		case "mv":
			e.nodeFiles[argv[2]] = e.nodeFiles[argv[1]]
			delete(e.nodeFiles, argv[1])
		case "rm":
			delete(e.nodeFiles, argv[2])
		}
		return nil, nil
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	return e.fallback(ctx, name, args...)
}

func (e *engineCLI) runInput(_ context.Context, stdin io.Reader, _ string, args ...string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	argv := args[3:] // exec -i <node> ...
	if argv[0] == "cp" {
		data, err := io.ReadAll(stdin)
		e.nodeFiles[argv[2]] = string(data)
		return nil, err
	}
	return nil, nil
}

// changed lists the commands that changed something on the engine.
func (e *engineCLI) changed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.commands {
		for _, verb := range []string{"run ", "start ", "rm ", "volume create", "volume rm", "network connect", "exec "} {
			if strings.HasPrefix(c, verb) && !strings.Contains(c, "containerd config dump") && !strings.Contains(c, " sh -c ") {
				out = append(out, c)
			}
		}
	}
	return out
}

func withEngineCLI(m *machine) *engineCLI {
	e := &engineCLI{containers: map[string]map[string]any{}, volumes: map[string]bool{}, nodeFiles: map[string]string{}, fallback: m.pipeline.Cluster.Run}
	m.pipeline.Cluster.Run = e.run
	m.pipeline.Cluster.RunInput = e.runInput
	return e
}

func TestUpWithTheRegistryRunsItBesideTheNodeAndTellsTheCluster(t *testing.T) {
	m := newMachine(t, readyNode())
	eng := withEngineCLI(m)
	port := freeTCPPort(t)
	_, out, err := runCLI(t, m, "up", "--registry", "--registry-port", strconv.Itoa(port), "--http-port", "18080", "--https-port", "18443", "-q")
	require.NoError(t, err, out)

	reg := eng.containers["kindstack-registry"]
	require.NotNil(t, reg, "the registry container runs")
	labels := reg["Config"].(map[string]any)["Labels"].(map[string]string)
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(port), labels["dev.kindstack.address"])
	assert.True(t, eng.volumes["kindstack-registry"])
	hosts := eng.nodeFiles["/etc/containerd/certs.d/localhost:"+strconv.Itoa(port)+"/hosts.toml"]
	assert.Contains(t, hosts, `[host."http://kindstack-registry:5000"]`, "the node pulls localhost:<port> from it")

	cm := m.engine.applied[kube.Ref{Kind: "ConfigMap", Namespace: "kube-public", Name: "local-registry-hosting"}]
	require.NotNil(t, cm, "the KEP-1755 ConfigMap is applied by the engine")
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	var hosting map[string]string
	require.NoError(t, yaml.Unmarshal([]byte(data["localRegistryHosting.v1"]), &hosting))
	assert.Equal(t, "localhost:"+strconv.Itoa(port), hosting["host"])
	assert.Contains(t, m.engine.inventory, "registry", "recorded: pruned when it leaves the settings")

	status, _, err := runCLI(t, m, "status", "-o", "json")
	require.NoError(t, err)
	beside := status["beside"].([]any)
	require.Len(t, beside, 1)
	b := beside[0].(map[string]any)
	assert.Equal(t, true, b["running"])
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(port), b["address"])

	_, text, err := runCLI(t, m, "status")
	require.NoError(t, err)
	assert.Contains(t, text, "registry kindstack-registry: running at 127.0.0.1:"+strconv.Itoa(port))

	_, images, err := runCLI(t, m, "images", "list", "--registry")
	require.NoError(t, err)
	assert.Contains(t, images, "docker.io/library/registry:3@sha256:")

	_, doctor, _ := runCLI(t, m, "doctor", "--registry", "--registry-port", strconv.Itoa(port))
	assert.Regexp(t, `ok\s+registry port `+strconv.Itoa(port)+`\s+held by kindstack's registry kindstack-registry`, doctor)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	m.pipeline.Cluster.Listen = net.Listen
	_, doctor, _ = runCLI(t, m, "doctor", "--registry", "--registry-port", busyPort)
	assert.Regexp(t, `fail\s+registry port `+busyPort+`\s+`, doctor, "another port than the one the registry runs with fails, saying so")

	dir := filepath.Join(t.TempDir(), "logs")
	_, _, err = runCLI(t, m, "logs", "--output-dir", dir)
	require.NoError(t, err)
	log, err := os.ReadFile(filepath.Join(dir, "beside", "kindstack-registry.log"))
	require.NoError(t, err, "logs collects the registry's log")
	assert.Contains(t, string(log), "listening on")

	// An up without it prunes the ConfigMap and the node's hosts file, and keeps the registry.
	before := len(eng.changed())
	_, out, err = runCLI(t, m, "up", "--http-port", "18080", "--https-port", "18443", "-q")
	require.NoError(t, err, out)
	assert.Contains(t, m.engine.pruned, kube.Ref{Kind: "ConfigMap", Namespace: "kube-public", Name: "local-registry-hosting"})
	assert.Empty(t, eng.nodeFiles)
	assert.NotNil(t, eng.containers["kindstack-registry"], "the registry and its images stay")
	for _, c := range eng.changed()[before:] {
		assert.NotContains(t, c, "kindstack-registry", "nothing was done to the registry: %s", c)
	}

	// down keeps it too; `registry rm` removes it and its storage.
	_, _, err = runCLI(t, m, "down")
	require.NoError(t, err)
	assert.NotNil(t, eng.containers["kindstack-registry"])
	_, _, err = runCLI(t, m, "registry", "rm")
	require.NoError(t, err)
	assert.Nil(t, eng.containers["kindstack-registry"])
	assert.False(t, eng.volumes["kindstack-registry"])
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return p
}

func TestRegistryBadInputIsOneSentenceBeforeAnyChange(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	config := func(body string) string {
		path := filepath.Join(t.TempDir(), "kindstack.yaml")
		require.NoError(t, os.WriteFile(path, []byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\n"+body), 0o600))
		return path
	}
	tests := []struct {
		name  string
		args  []string
		want  string
		usage bool // a bad flag value is a usage error (exit 2), like every other flag's
	}{
		{"a port that is not a port, in the file", []string{"--config", config("registry:\n  port: five\n")},
			`line 4: field "port": want an integer, got the string "five"`, false},
		{"a port out of range, in the file", []string{"--config", config("registry:\n  port: 70000\n")},
			"port 70000 is not a TCP port (1-65535)", false},
		{"an address that is not an IP, in the file", []string{"--config", config("registry:\n  listenAddress: localhost\n")},
			`listenAddress "localhost" is not an IP address`, false},
		{"a port used by something else", []string{"--registry", "--registry-port", busyPort},
			"registry: port " + busyPort + " on 127.0.0.1 is already in use by another program; stop it or choose another port with --registry-port", false},
		{"the cluster's own port", []string{"--registry", "--registry-port", "18080"},
			"registry: port 18080 is the cluster's --http-port too; choose another port for one of them", false},
		{"a port that is not a port, as a flag", []string{"--registry-port", "five"}, `invalid value for --registry-port: want an integer, got the string "five"`, true},
		{"an address that is not an IP, as a flag", []string{"--registry-listen-address", "my-laptop"}, `listenAddress "my-laptop" is not an IP address`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, readyNode())
			m.pipeline.Cluster.Listen = net.Listen
			eng := withEngineCLI(m)
			_, _, err := runCLI(t, m, append([]string{"up", "--http-port", "18080", "--https-port", "18443"}, tt.args...)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var usage *cli.UsageError
			assert.Equal(t, tt.usage, errors.As(err, &usage), "usage error (exit 2) or failure (exit 1): %v", err)
			assert.Empty(t, m.kind.clusters, "no cluster was created")
			assert.Empty(t, eng.changed(), "nothing changed on the engine")
			assert.Empty(t, m.engine.events, "nothing applied")
		})
	}
}
