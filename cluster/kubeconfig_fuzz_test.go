package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

// Merging the kind context into any kubeconfig the user has never loses or alters another
// context, user or cluster entry.
func FuzzMergeKubeconfigKeepsOtherEntries(f *testing.F) {
	f.Add([]byte(foreignKubeconfig()))
	f.Add(kindKubeconfig("other", "https://10.0.0.1:6443"))
	f.Add(kindKubeconfig("kindstack", "https://127.0.0.1:1"))
	f.Add([]byte("apiVersion: v1\nkind: Config\nclusters: []\ncontexts:\n- name: a\n  context: {cluster: c, user: u, namespace: n}\n"))
	f.Add([]byte(""))
	kind := kindKubeconfig("kindstack", "https://127.0.0.1:40001")
	f.Fuzz(func(t *testing.T, user []byte) {
		before, err := clientcmd.Load(user)
		if err != nil {
			return // not a kubeconfig: merge may refuse it, and there is nothing to keep
		}
		path := filepath.Join(t.TempDir(), "config")
		require.NoError(t, os.WriteFile(path, user, 0o600))
		if _, err := MergeKubeconfig(t.Context(), path, "kindstack", kind); err != nil {
			return // refusing to edit a file it cannot read keeps every entry too
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		after, err := clientcmd.Load(data)
		require.NoError(t, err, "the merged file is a kubeconfig:\n%s", data)
		for name, c := range before.Clusters {
			if name != "kind-kindstack" {
				require.Equal(t, c, after.Clusters[name], "cluster %q", name)
			}
		}
		for name, c := range before.Contexts {
			if name != "kind-kindstack" {
				require.Equal(t, c, after.Contexts[name], "context %q", name)
			}
		}
		for name, u := range before.AuthInfos {
			if name != "kind-kindstack" {
				require.Equal(t, u, after.AuthInfos[name], "user %q", name)
			}
		}
		require.Equal(t, "kind-kindstack", after.CurrentContext)
		require.Equal(t, "https://127.0.0.1:40001", after.Clusters["kind-kindstack"].Server)
	})
}
