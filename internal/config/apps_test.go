package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppsAreDecodedStrictlyWithTheirLines(t *testing.T) {
	t.Parallel()
	st, err := decode([]byte(`apiVersion: kindstack.dev/v1alpha1
kind: Stack
apps:
  - name: shop
    path: ./deploy
    namespace: shop-ns
    needs: [ingress, db]
    smoke: {path: /shop, status: 200, contains: Welcome}
    urls: [/shop]
  - name: db
    chart: charts/db-0.1.0.tgz
    values:
      auth: {password: secret}
      replicas: 2
    valuesFiles: [db.yaml, db-dev.yaml]
    smoke:
      - {path: /db/healthz}
      - {path: /db/missing, status: 404}
`))
	require.NoError(t, err)
	require.Len(t, st.Apps, 2)
	shop, db := st.Apps[0], st.Apps[1]
	assert.Equal(t, "./deploy", shop.Path)
	assert.Equal(t, "shop-ns", shop.Namespace)
	assert.Equal(t, []string{"ingress", "db"}, shop.Needs)
	assert.Equal(t, []AppSmoke{{Path: "/shop", Status: 200, Contains: "Welcome"}}, shop.Smoke)
	assert.Equal(t, 4, shop.Line)
	assert.Equal(t, "line 7", shop.Where("needs"), "a field's own line")
	assert.Equal(t, map[string]any{"auth": map[string]any{"password": "secret"}, "replicas": float64(2)}, db.Values)
	assert.Equal(t, []string{"db.yaml", "db-dev.yaml"}, db.ValuesFiles)
	assert.Equal(t, []AppSmoke{{Path: "/db/healthz"}, {Path: "/db/missing", Status: 404}}, db.Smoke)
}

func TestBadAppsNameTheirLine(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ apps, want string }{
		"unknown field":   {"  - name: a\n    pth: x\n", `line 5: unknown field "pth" (did you mean "path"?)`},
		"not a list":      {"  name: a\n", "want a list of apps"},
		"no name":         {"  - path: x\n", "line 4: apps: an app without a name"},
		"both":            {"  - name: a\n    path: x\n    chart: y\n", `line 4: app "a" has both path and chart`},
		"neither":         {"  - name: a\n", `line 4: app "a" has neither path nor chart`},
		"values for path": {"  - name: a\n    path: x\n    values: {a: 1}\n", `line 6: app "a": values is for a chart, and this app is a path`},
		"needs a string":  {"  - name: a\n    path: x\n    needs: ingress\n", `line 6: apps: field "needs": want a list of strings`},
		"smoke no path":   {"  - name: a\n    path: x\n    smoke: {status: 200}\n", "line 6: smoke: the path to request is missing"},
		"smoke status":    {"  - name: a\n    path: x\n    smoke: {path: /, status: \"200\"}\n", `line 6: smoke: field "status": want an HTTP status such as 200`},
		"smoke relative":  {"  - name: a\n    path: x\n    smoke: {path: shop}\n", `smoke: field "path": want a path starting with /`},
		"values a list":   {"  - name: a\n    chart: x\n    values: [1]\n", `line 6: apps: field "values": want a mapping of the chart's values`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := decode([]byte("apiVersion: kindstack.dev/v1alpha1\nkind: Stack\napps:\n" + tc.apps))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Paths in a file are relative to the file, wherever kindstack runs.
func TestLoadMakesAppPathsRelativeToTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "conf", "kindstack.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	require.NoError(t, os.WriteFile(file, []byte(`apiVersion: kindstack.dev/v1alpha1
kind: Stack
apps:
  - name: shop
    path: ../deploy
  - name: db
    chart: /abs/chart
    valuesFiles: [values/dev.yaml]
`), 0o600))
	st, err := Load(file, nil)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "deploy"), st.Apps[0].Path)
	assert.Equal(t, "/abs/chart", st.Apps[1].Chart)
	assert.Equal(t, []string{filepath.Join(dir, "conf", "values", "dev.yaml")}, st.Apps[1].ValuesFiles)
	assert.Equal(t, "config file "+file+", line 4", st.Apps[0].Where("name"))
	s := Defaults().Apply(st)
	assert.Len(t, s.Apps, 2, "settings carry the file's apps")
}
