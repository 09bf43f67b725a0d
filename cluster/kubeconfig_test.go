package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

// foreign is a kubeconfig as kubectl writes it, with a comment and quoting a hand edit might add.
const foreignCluster = `- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJME1ERXdNVEF3TURBd01Gb1hEVE0wTURFd01UQXdNREF3TUZvd0ZURVRNQkVHQTFVRQ==
    server: https://prod.example.com:6443
  name: prod
`
const foreignContext = `- context:
    cluster: prod
    namespace: "payments" # the team's namespace
    user: alice
  name: prod
`
const foreignUser = `- name: alice
  user:
    token: "0123456789"
`

func foreignKubeconfig() string {
	return "apiVersion: v1\nclusters:\n" + foreignCluster + "contexts:\n" + foreignContext +
		"current-context: prod\nkind: Config\npreferences: {}\nusers:\n" + foreignUser
}

func kindKubeconfig(name, server string) []byte {
	k := "kind-" + name
	return []byte(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: ` + server + `
  name: ` + k + `
contexts:
- context:
    cluster: ` + k + `
    user: ` + k + `
  name: ` + k + `
current-context: ` + k + `
kind: Config
preferences: {}
users:
- name: ` + k + `
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`)
}

func TestMergeKeepsForeignEntriesByteForByte(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path, []byte(foreignKubeconfig()), 0o600))

	changed, err := MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:40001"))
	require.NoError(t, err)
	assert.True(t, changed)
	got := readFile(t, path)
	for _, part := range []string{foreignCluster, foreignContext, foreignUser} {
		assert.Contains(t, got, part, "a foreign entry changed")
	}
	cfg, err := clientcmd.Load([]byte(got))
	require.NoError(t, err, got)
	assert.Equal(t, "kind-kindstack", cfg.CurrentContext)
	assert.Equal(t, "https://127.0.0.1:40001", cfg.Clusters["kind-kindstack"].Server)
	assert.Equal(t, "kind-kindstack", cfg.Contexts["kind-kindstack"].AuthInfo)
	assert.Equal(t, []byte("CERT"), cfg.AuthInfos["kind-kindstack"].ClientCertificateData)
	assert.Equal(t, "payments", cfg.Contexts["prod"].Namespace)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Same cluster again: nothing to write.
	changed, err = MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:40001"))
	require.NoError(t, err)
	assert.False(t, changed)

	// The API server moved (recreate): our entry is replaced in place, not duplicated.
	_, err = MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:40002"))
	require.NoError(t, err)
	got = readFile(t, path)
	cfg, err = clientcmd.Load([]byte(got))
	require.NoError(t, err)
	assert.Len(t, cfg.Clusters, 2)
	assert.Len(t, cfg.Contexts, 2)
	assert.Len(t, cfg.AuthInfos, 2)
	assert.Equal(t, 3, strings.Count(got, "name: kind-kindstack\n"), "one cluster, one context, one user of ours")
	assert.NotContains(t, got, "40001")

	// Remove: the file is the original again, except the current context, which was ours.
	changed, err = RemoveKubeconfig(t.Context(), path, "kindstack")
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, strings.Replace(foreignKubeconfig(), "current-context: prod", `current-context: ""`, 1), readFile(t, path))
}

func TestRemoveLeavesForeignCurrentContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path, []byte(foreignKubeconfig()), 0o600))
	_, err := MergeKubeconfig(t.Context(), path, "other", kindKubeconfig("other", "https://127.0.0.1:1"))
	require.NoError(t, err)
	_, err = MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:2"))
	require.NoError(t, err)

	// kindstack is current; removing "other" must not touch current-context or kindstack's entries.
	_, err = RemoveKubeconfig(t.Context(), path, "other")
	require.NoError(t, err)
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "kind-kindstack", cfg.CurrentContext)
	assert.Contains(t, cfg.Contexts, "prod")
	assert.Contains(t, cfg.Contexts, "kind-kindstack")
	assert.NotContains(t, cfg.Contexts, "kind-other")
	assert.NotContains(t, cfg.Clusters, "kind-other")
	assert.NotContains(t, cfg.AuthInfos, "kind-other")

	// Removing a cluster that is not there changes nothing.
	before := readFile(t, path)
	changed, err := RemoveKubeconfig(t.Context(), path, "absent")
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, before, readFile(t, path))
}

func TestMergeCreatesMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", ".kube", "config")
	changed, err := MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:3"))
	require.NoError(t, err)
	assert.True(t, changed)
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "kind-kindstack", cfg.CurrentContext)
	assert.Len(t, cfg.Contexts, 1)

	changed, err = RemoveKubeconfig(t.Context(), filepath.Join(t.TempDir(), "missing"), "kindstack")
	require.NoError(t, err)
	assert.False(t, changed)
}

func TestMergeRefusesACorruptKubeconfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path, []byte("clusters: {a: 1}\n"), 0o600))
	_, err := MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:3"))
	require.ErrorContains(t, err, "clusters is not a list")
	assert.Equal(t, "clusters: {a: 1}\n", readFile(t, path), "a file we cannot read must not be rewritten")
}

// Found by fuzzing: an entry whose name is given twice is kind-kindstack to kubectl (the last
// one wins) but not to a walk that stops at the first; editing it would leave two entries of that
// name, a file kubectl refuses. kindstack refuses to edit it and says which key repeats where.
func TestMergeRefusesAKeyGivenTwice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	user := "clusters:\n- cluster: {server: https://10.0.0.1}\n  name: other\n  name: kind-kindstack\n"
	require.NoError(t, os.WriteFile(path, []byte(user), 0o600))
	_, err := MergeKubeconfig(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:3"))
	require.ErrorContains(t, err, `mapping key "name" already defined at line 3`)
	assert.Equal(t, user, readFile(t, path), "a file read two ways must not be rewritten")
}

func TestKubeconfigPathsFollowKind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	list := a + string(os.PathListSeparator) + b

	assert.Equal(t, []string{"/x"}, KubeconfigPaths("/x", env(map[string]string{"KUBECONFIG": list})))
	assert.Equal(t, []string{a, b}, KubeconfigPaths("", env(map[string]string{"KUBECONFIG": list})))
	assert.Equal(t, []string{filepath.Join("/home/u", ".kube", "config")}, KubeconfigPaths("", env(map[string]string{"HOME": "/home/u"})))
	assert.Equal(t, b, KubeconfigMergePath("", env(map[string]string{"KUBECONFIG": list})), "none exists: the last")
	require.NoError(t, os.WriteFile(b, nil, 0o600))
	require.NoError(t, os.WriteFile(a, nil, 0o600))
	assert.Equal(t, a, KubeconfigMergePath("", env(map[string]string{"KUBECONFIG": list})), "the first that exists")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestASymlinkedKubeconfigStaysALink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "kubeconfig")
	require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o700))
	require.NoError(t, os.WriteFile(target, []byte(foreignKubeconfig()), 0o600))
	link := filepath.Join(dir, ".kube", "config")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o700))
	require.NoError(t, os.Symlink(target, link))

	_, err := MergeKubeconfig(t.Context(), link, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:1"))
	require.NoError(t, err)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode()&os.ModeSymlink != 0, "the kubeconfig is still a symlink")
	assert.Contains(t, readFile(t, target), "kind-kindstack", "the entry went into the link's target")

	_, err = RemoveKubeconfig(t.Context(), link, "kindstack")
	require.NoError(t, err)
	fi, err = os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode()&os.ModeSymlink != 0)
	assert.NotContains(t, readFile(t, target), "kind-kindstack")
}

func TestKeepContextAddsTheEntriesAndLeavesCurrentContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path, []byte(foreignKubeconfig()), 0o600))
	changed, err := AddKubeconfigEntries(t.Context(), path, "kindstack", kindKubeconfig("kindstack", "https://127.0.0.1:1"))
	require.NoError(t, err)
	assert.True(t, changed)
	got := readFile(t, path)
	assert.Contains(t, got, "name: kind-kindstack")
	assert.Contains(t, got, "current-context: prod", "the user's current context stays")
}
