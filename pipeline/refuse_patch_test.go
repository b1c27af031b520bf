package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefusePatch checks the lib/ and assembly refusals on the patches'
// cleaned paths (fs/../lib is lib/, a rename out of lib/ is a change to
// lib/), and that a hostile patch is refused by Run with a hint before
// anything is written: no cache, no output, the tree and the directory
// around it as they were.
func TestRefusePatch(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "tree")
	for _, f := range []string{"fs/proc/meminfo.c", "lib/vsprintf.c", "arch/x86/entry.S"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(tree, f), []byte("line 1\nline 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A tree like the bundled kernel's (CheckSourceDir).
	if err := os.WriteFile(filepath.Join(tree, "Makefile"), []byte("print-cflags:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "canary"), []byte("canary\n"), 0o644)
	if err := os.Symlink("..", filepath.Join(tree, "up")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, patch, msg, hint string }{
		{"lib through fs/..", "--- a/fs/../lib/vsprintf.c\n+++ b/fs/../lib/vsprintf.c\n@@ -1 +1 @@\n-line 1\n+one\n",
			"PATCH:1: changes to lib/ are not supported (lib/vsprintf.c)", "patch the callers instead"},
		{"rename out of lib", "diff --git a/lib/vsprintf.c b/fs/vsprintf.c\nsimilarity index 90%\nrename from lib/vsprintf.c\nrename to fs/vsprintf.c\n--- a/lib/vsprintf.c\n+++ b/fs/vsprintf.c\n@@ -1 +1 @@\n-line 1\n+one\n",
			"PATCH:1: changes to lib/ are not supported (lib/vsprintf.c)", "patch the callers instead"},
		{"assembly", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-line 1\n+one\n--- src.orig/arch/x86/./entry.S\n+++ src/arch/x86/./entry.S\n@@ -1 +1 @@\n-line 1\n+one\n",
			"PATCH:6: changes to assembly files are not supported (arch/x86/entry.S)", "move the change into C"},
		{"traversal", "--- a/fs/proc/meminfo.c\n+++ b/../../.bashrc\n@@ -1 +1 @@\n-line 1\n+echo owned\n",
			"PATCH:1: b/../../.bashrc: the path leaves the source tree (../../.bashrc after cleaning)", "inside the source tree"},
		{"symlink out", "--- /dev/null\n+++ b/up/canary\n@@ -0,0 +1 @@\n+owned\n",
			"PATCH:1: b/up/canary: the path goes through the symlink up, which points outside the source tree (to ..)", "inside the source tree"},
		{"pure rename", "diff --git a/fs/proc/meminfo.c b/fs/proc/mem.c\nsimilarity index 100%\nrename from fs/proc/meminfo.c\nrename to fs/proc/mem.c\n",
			"PATCH:1: a pure rename of fs/proc/meminfo.c to fs/proc/mem.c (no changes)", "drop the rename"},
	} {
		t.Run(c.name, func(t *testing.T) {
			patch := filepath.Join(t.TempDir(), "fix.patch")
			if err := os.WriteFile(patch, []byte(c.patch), 0o644); err != nil {
				t.Fatal(err)
			}
			before := listing(t, root)
			_, err := Run(context.Background(), Options{SourceDir: tree, Patches: []string{patch}, CacheDir: filepath.Join(root, "cache"), OutputDir: filepath.Join(root, "out")})
			var pe *Error
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), strings.ReplaceAll(c.msg, "PATCH", patch)) || !strings.Contains(pe.Hint, c.hint) {
				t.Errorf("error %v (hint %q), want\n%s\nhint with %q", err, hintText(pe), c.msg, c.hint)
			}
			if d := cmp.Diff(before, listing(t, root)); d != "" {
				t.Errorf("something was written (-before +after):\n%s", d)
			}
		})
	}
}

// hintText is the hint of an Error, "" for none.
func hintText(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Hint
}

// listing lists every entry under dir with its mode, size and
// modification time.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d %d", p, info.Mode(), info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRefuseBuildFiles: in a Linux tree, a patch to a build file (one
// that make reads or runs) is refused before anything runs or is written,
// wherever it is in the patch; the same files' names elsewhere are code.
func TestRefuseBuildFiles(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "linux")
	files := []string{"Makefile", "Kbuild", "Kconfig", "scripts/Makefile.build", "scripts/link-vmlinux.sh", "fs/proc/Makefile",
		"fs/proc/meminfo.c", "arch/x86/Kconfig.debug", "arch/x86/Makefile_32.cpu", "arch/x86/kernel/vmlinux.lds.S",
		"arch/x86/configs/x86_64_defconfig", "tools/objtool/Build", "fs/proc/kconfig_notes.c"}
	for _, f := range files {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(tree, f), []byte("line 1\nline 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hunk := func(f string) string {
		return "--- a/" + f + "\n+++ b/" + f + "\n@@ -1 +1 @@\n-line 1\n+$(shell touch /tmp/owned)\n"
	}
	code := hunk("fs/proc/meminfo.c")
	for _, c := range []struct {
		file string
		line int
	}{
		{"fs/proc/Makefile", 6}, {"Kconfig", 6}, {"arch/x86/Kconfig.debug", 6}, {"scripts/link-vmlinux.sh", 6},
		{"scripts/Makefile.build", 6}, {"arch/x86/configs/x86_64_defconfig", 6},
	} {
		t.Run(c.file, func(t *testing.T) {
			patch := filepath.Join(t.TempDir(), "fix.patch")
			if err := os.WriteFile(patch, []byte(code+hunk(c.file)), 0o644); err != nil {
				t.Fatal(err)
			}
			before := listing(t, root)
			_, err := Run(context.Background(), Options{SourceDir: tree, Patches: []string{patch}, CacheDir: filepath.Join(root, "cache"), OutputDir: filepath.Join(root, "out")})
			want := fmt.Sprintf("%s:%d: changes to the kernel's build files are not supported (%s)", patch, c.line, c.file)
			var pe *Error
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(pe.Hint, "need a new kernel build") {
				t.Errorf("error %v (hint %q), want\n%s", err, hintText(pe), want)
			}
			if d := cmp.Diff(before, listing(t, root)); d != "" {
				t.Errorf("something was written (-before +after):\n%s", d)
			}
		})
	}
	for f, want := range map[string]bool{"fs/proc/meminfo.c": false, "fs/proc/kconfig_notes.c": false, "include/linux/kconfig.h": false,
		"arch/x86/Makefile_32.cpu": true, "tools/objtool/Build": true, "arch/x86/kernel/vmlinux.lds.S": true, "fs/Makefile": true,
		"drivers/Kconfig": true, "scripts/kallsyms.c": true, "arch/x86/boot/compressed/vmlinux.lds": true} {
		if BuildFile(f) != want {
			t.Errorf("BuildFile(%q) = %v, want %v", f, !want, want)
		}
	}
}
