package main

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/kindstack/kindstack"

// floors are the layers of the house, the ground floor first: a package imports only packages
// on floors below its own, so no arrow runs back up. Two packages on one floor never import each
// other (internal/config and cluster: settings do not know kind, kind does not know settings).
// A new package gets a floor here and a line in the README's Architecture section.
func floors() [][]string {
	return [][]string{
		{"embed", "internal/imageref", "internal/nodeimage", "internal/webhookcert", "internal/modfetch", "internal/steps", "internal/kube"},
		{"internal/transform", "internal/mirrors"},
		{"internal/component", "internal/bundle"},
		{"addons", "workloads", "internal/smoke", "internal/config", "cluster"},
		{"internal/catalogue", "internal/target", "internal/apps"},
		{"internal/pipeline"},
		{"internal/cli"},
		{"."},
	}
}

// products lists the module's packages with their project imports (test code and the e2e test
// bed left out), as `go list` reads them.
func products(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	require.NoError(t, err, "go list")
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		name := rel(fields[0])
		if name == "e2e" || strings.HasPrefix(name, "e2e/") {
			continue
		}
		var imports []string
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				imports = append(imports, rel(imp))
			}
		}
		pkgs[name] = imports
	}
	return pkgs
}

func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// No import runs back up: every package imports only packages on lower floors.
func TestNoArrowRunsBackUp(t *testing.T) {
	floorOf := map[string]int{}
	for i, floor := range floors() {
		for _, pkg := range floor {
			floorOf[pkg] = i
		}
	}
	pkgs := products(t)
	var names []string
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		from, ok := floorOf[name]
		if !assert.True(t, ok, "package %s has no floor: give it one in floors() and a line in the README's Architecture section", name) {
			continue
		}
		for _, imp := range pkgs[name] {
			to, ok := floorOf[imp]
			assert.True(t, ok && to < from, "%s (floor %d) imports %s (floor %d): an arrow that runs back up or sideways", name, from+1, imp, to+1)
		}
	}
	for pkg := range floorOf {
		assert.Contains(t, pkgs, pkg, "floors() names %s, which is no package any more", pkg)
	}
}

// The README's Architecture section names every package.
func TestTheArchitectureSectionNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, section, found := strings.Cut(string(readme), "\n## Architecture\n")
	require.True(t, found, "README.md has an Architecture section")
	section, _, _ = strings.Cut(section, "\n## ")
	for name := range products(t) {
		if name == "." {
			name = "main.go"
		}
		if !strings.Contains(section, name) {
			t.Errorf("the README's Architecture section leaves out %s", name)
		}
	}
}
