package patch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestResolveInTree resolves in-tree symlinks (a directory link, a file
// link, a link to a link, new files under a link) and refuses every path
// that is not clean, leaves the tree or goes through a link that leaves
// it or dangles.
func TestResolveInTree(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "tree")
	os.MkdirAll(filepath.Join(tree, "include/dt-bindings/clock"), 0o755)
	os.MkdirAll(filepath.Join(tree, "scripts/dtc/include-prefixes"), 0o755)
	os.WriteFile(filepath.Join(tree, "include/dt-bindings/clock/x.h"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "outside.c"), nil, 0o644)
	for link, target := range map[string]string{
		"scripts/dtc/include-prefixes/dt-bindings": "../../../include/dt-bindings",
		"scripts/dtc/include-prefixes/again":       "dt-bindings",
		"clock-link.h":                             "include/dt-bindings/clock/x.h",
		"abs":                                      filepath.Join(tree, "include"),
		"out":                                      "..",
		"abs-out":                                  root,
		"dangling":                                 "nowhere/at/all",
		"self":                                     ".",
	} {
		if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
			t.Fatal(err)
		}
	}
	for rel, want := range map[string]string{
		"include/dt-bindings/clock/x.h":                           "include/dt-bindings/clock/x.h",
		"scripts/dtc/include-prefixes/dt-bindings/clock/x.h":      "include/dt-bindings/clock/x.h",
		"scripts/dtc/include-prefixes/again/clock/x.h":            "include/dt-bindings/clock/x.h",
		"scripts/dtc/include-prefixes/dt-bindings/clock/new.h":    "include/dt-bindings/clock/new.h",
		"scripts/dtc/include-prefixes/dt-bindings/newdir/sub/n.h": "include/dt-bindings/newdir/sub/n.h",
		"clock-link.h":      "include/dt-bindings/clock/x.h",
		"abs/dt-bindings":   "include/dt-bindings",
		"self/clock-link.h": "include/dt-bindings/clock/x.h",
		"fs/new.c":          "fs/new.c",
	} {
		got, err := ResolveInTree(tree, rel)
		if err != nil || got != want {
			t.Errorf("ResolveInTree(%s) = %q, %v; want %q", rel, got, err, want)
		}
	}
	for rel, want := range map[string]string{
		"scripts/dtc/include-prefixes/dt-bindings/clock/x.h": "include/dt-bindings/clock/x.h",
		"clock-link.h":      "clock-link.h",
		"self/clock-link.h": "clock-link.h",
		"fs/new.c":          "fs/new.c",
	} {
		got, err := ResolveParentInTree(tree, rel)
		if err != nil || got != want {
			t.Errorf("ResolveParentInTree(%s) = %q, %v; want %q", rel, got, err, want)
		}
	}
	for _, rel := range []string{"out/outside.c", "abs-out/outside.c", "dangling/x.c", "../outside.c", "/etc/passwd",
		"include/../../outside.c", "include//dt-bindings", "", ".", "..", "self"} {
		if got, err := ResolveInTree(tree, rel); !errors.Is(err, ErrNotInTree) {
			t.Errorf("ResolveInTree(%q) = %q, %v; want ErrNotInTree", rel, got, err)
		}
		if got, err := ResolveParentInTree(tree, rel); !errors.Is(err, ErrNotInTree) {
			t.Errorf("ResolveParentInTree(%q) = %q, %v; want ErrNotInTree", rel, got, err)
		}
	}
}
