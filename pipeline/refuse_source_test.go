package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// linuxLikeTree makes a small tree with a Linux tree's top-level files,
// a .config and a generated header (a user's tree that was built), and
// symlinked directories (into include/generated, scripts/, and from
// scripts/ into include/linux).
func linuxLikeTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "linux")
	for _, f := range []string{"Makefile", "Kbuild", "Kconfig", "scripts/Makefile.build", "fs/proc/meminfo.c", ".config", "include/config/auto.conf",
		"include/generated/autoconf.h", "arch/x86/include/generated/asm/orc_hash.h", "include/linux/types.h"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(tree, f), []byte("line 1\nline 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"fs/gen": "../include/generated", "fs/scr": "../scripts", "scripts/inc": "../include/linux"} {
		if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

// TestRefuseNotSource checks that a patch may change only the source
// tree's own files or create new ones: a file the tree lacks, a file of
// the prepared tree's generation (even where the user's tree has one, or
// reached through a symlink) is refused with the file's line and a hint
// before anything is built; a file an earlier patch of the run creates
// may be changed by a later one.
func TestRefuseNotSource(t *testing.T) {
	tree := linuxLikeTree(t)
	change := func(name string) string {
		return "--- a/" + name + "\n+++ b/" + name + "\n@@ -1,2 +1,2 @@\n-line 1\n+changed\n line 2\n"
	}
	create := func(name string) string { return "--- /dev/null\n+++ b/" + name + "\n@@ -0,0 +1 @@\n+new\n" }
	for _, c := range []struct {
		name    string
		patches []string
		key     refusal.Key
		msg     string
	}{
		{"missing file", []string{change("fs/proc/nope.c")}, refusal.PatchNotInTree,
			"PATCH0:1: a/fs/proc/nope.c: no such file in the source tree " + tree},
		{"generated header the tree has", []string{change("fs/proc/meminfo.c") + change("include/generated/autoconf.h")}, refusal.PatchGenerated,
			"PATCH0:7: a/include/generated/autoconf.h: the file is generated when the tree is prepared"},
		{"configuration", []string{change(".config")}, refusal.BuildFileChange, "PATCH0:1: changes to the kernel's build files are not supported (.config)"},
		{"generated configuration", []string{change("include/config/auto.conf")}, refusal.PatchGenerated, "PATCH0:1: a/include/config/auto.conf: the file is generated"},
		{"an architecture's generated header", []string{change("arch/x86/include/generated/asm/orc_hash.h")}, refusal.PatchGenerated, "a/arch/x86/include/generated/asm/orc_hash.h: the file is generated"},
		{"new generated header", []string{create("include/generated/evil.h")}, refusal.PatchGenerated, "b/include/generated/evil.h: the file is generated"},
		{"generated through a symlink", []string{change("fs/gen/autoconf.h")}, refusal.PatchGenerated, "a/fs/gen/autoconf.h: the file is generated"},
		{"Module.symvers", []string{create("Module.symvers")}, refusal.PatchGenerated, "b/Module.symvers: the file is generated"},
		// Build files are judged on the file the build reads.
		{"a script through a symlink", []string{change("fs/scr/Makefile.build")}, refusal.BuildFileChange, "not supported (fs/scr/Makefile.build)"},
		{"a header through a link in scripts/", []string{change("scripts/inc/types.h")}, refusal.NeedVmlinux, "-v VMLINUX is required"},
		{"a later patch changes what the earlier created", []string{create("fs/proc/new.c"), "--- a/fs/proc/new.c\n+++ b/fs/proc/new.c\n@@ -1 +1 @@\n-new\n+newer\n"},
			refusal.NeedVmlinux, "is a Linux source tree: -v VMLINUX is required"},
		{"a later patch changes what the earlier removed", []string{"--- a/fs/proc/meminfo.c\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-line 1\n-line 2\n", change("fs/proc/meminfo.c")},
			refusal.PatchNotInTree, "PATCH1:1: a/fs/proc/meminfo.c: no such file in the source tree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			msg := c.msg
			for i, text := range c.patches {
				p := filepath.Join(dir, "p"+string(rune('0'+i))+".patch")
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
				msg = strings.ReplaceAll(msg, "PATCH"+string(rune('0'+i)), p)
			}
			before := listing(t, filepath.Dir(tree))
			_, err := Run(context.Background(), Options{SourceDir: tree, Patches: paths, CacheDir: filepath.Join(dir, "cache"), OutputDir: filepath.Join(dir, "out")})
			var pe *Error
			if !errors.As(err, &pe) || pe.Key != c.key || !strings.Contains(err.Error(), msg) || pe.Hint == "" {
				t.Errorf("got %v (%s), want %s: ...%s...", err, keyOf(pe), c.key, msg)
			}
			if after := listing(t, filepath.Dir(tree)); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Error("the source tree changed")
			}
		})
	}
}

func keyOf(e *Error) refusal.Key {
	if e == nil {
		return ""
	}
	return e.Key
}

// TestCheckSourceDir checks the message for a -s that is not a kernel
// tree: it names the directory and what it lacks.
func TestCheckSourceDir(t *testing.T) {
	root := t.TempDir()
	partial := filepath.Join(root, "partial")
	os.MkdirAll(filepath.Join(partial, "scripts"), 0o755)
	os.WriteFile(filepath.Join(partial, "Makefile"), []byte("all:\n"), 0o644)
	os.WriteFile(filepath.Join(partial, "Kconfig"), nil, 0o644)
	bundled := filepath.Join(root, "bundled")
	os.MkdirAll(bundled, 0o755)
	os.WriteFile(filepath.Join(bundled, "Makefile"), []byte("all:\n\techo\nprint-cflags:\n\t@echo -O2\n"), 0o644)
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	for dir, want := range map[string]string{
		root:                        root + " is not a kernel source tree: it has no Makefile, Kbuild, Kconfig, scripts/Makefile.build (a Linux tree has",
		partial:                     partial + " is not a kernel source tree: it has no Kbuild, scripts/Makefile.build (",
		file:                        "source tree " + file + ": not a directory",
		filepath.Join(root, "none"): "source tree " + filepath.Join(root, "none") + ": stat ",
		bundled:                     "",
		linuxLikeTree(t):            "",
	} {
		err := CheckSourceDir(dir)
		if (err == nil) != (want == "") || err != nil && !strings.HasPrefix(err.Error(), want) {
			t.Errorf("CheckSourceDir(%s) = %v, want %q", dir, err, want)
		}
	}
}
