package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    []string // Ref strings
		wantErr string
	}{
		{
			name: "several documents, empty and comment-only ones skipped",
			yaml: `
# leading comment
---
apiVersion: v1
kind: Namespace
metadata: {name: example}
---
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: example}
spec: {replicas: 2}
`,
			want: []string{"Namespace/example", "Deployment/example/web"},
		},
		{
			name: "a List is expanded",
			yaml: `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: x}}
`,
			want: []string{"ConfigMap/x/a", "ConfigMap/x/b"},
		},
		{
			name:    "missing kind names source and document",
			yaml:    "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
			wantErr: "decode embed/app.yaml: document 2: kind is missing",
		},
		{
			name:    "missing name",
			yaml:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n",
			wantErr: "decode embed/app.yaml: document 1: ConfigMap has no metadata.name",
		},
		{
			name:    "broken YAML",
			yaml:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n",
			wantErr: "decode embed/app.yaml: document 1:",
		},
		{
			name:    "duplicate key is an error, not a silently dropped value",
			yaml:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: one, k: two}\n",
			wantErr: `decode embed/app.yaml: document 1: yaml: unmarshal errors:` + "\n" + `  line 4: key "k" already set in map`,
		},
		{
			name:    "a scalar document is not an object",
			yaml:    "just a string\n",
			wantErr: "decode embed/app.yaml: document 1: not an object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs, err := Decode("embed/app.yaml", []byte(tt.yaml))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, o := range objs {
				got = append(got, RefOf(o).String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeKeepsIntegersAsInt64(t *testing.T) {
	t.Parallel()
	objs, err := Decode("d.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}\nspec: {replicas: 3}\n"))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	// The server rejects a float replica count; unstructured helpers read only int64.
	assert.Equal(t, int64(3), objs[0].Object["spec"].(map[string]any)["replicas"])
}
