package kerneltree

import (
	"encoding/json"
	"errors"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree makes a source tree and its prepared copy (hard links, as
// Prepare makes it) with the tool's state beside it: fs/proc/meminfo.c,
// fs/proc/Makefile, an in-tree directory symlink and a file symlink.
func fakeTree(t *testing.T) (*Tree, string) {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(root, "src")
	for f, text := range map[string]string{"fs/proc/meminfo.c": "int meminfo;\n", "fs/proc/Makefile": "obj-y += meminfo.o\n",
		"include/dt-bindings/clock/x.h": "#define X 1\n", "Makefile": "all:\n"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(src, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(src, "scripts/dtc/include-prefixes"), 0o755)
	os.Symlink("../../../include/dt-bindings", filepath.Join(src, "scripts/dtc/include-prefixes/dt-bindings"))
	os.Symlink("include/dt-bindings/clock/x.h", filepath.Join(src, "x-link.h"))
	home := filepath.Join(root, "cache", prefixPrepared+"key")
	tr := &Tree{Dir: filepath.Join(home, treeDir), Source: src, Key: "key", home: home}
	if err := worktree.CopyTree(src, tr.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, stateName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return tr, root
}

func writeJournal(t *testing.T, tr *Tree, j journal) {
	t.Helper()
	b, _ := json.Marshal(j)
	if err := os.WriteFile(filepath.Join(tr.home, journalName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverRestoresFromSource checks that the journal's files are put
// back from the source tree, not from a copy in the prepared tree: a
// patched file is the source's file again (the same inode), a file the
// patch made is removed with its directories, a file symlink the patch
// replaced by a file is a symlink again, a file changed through a
// directory symlink is restored; the objects go with their .cmd and .d
// files.
func TestRecoverRestoresFromSource(t *testing.T) {
	tr, _ := fakeTree(t)
	in := func(f string) string { return filepath.Join(tr.Dir, f) }
	for _, f := range []string{"fs/proc/meminfo.c", "x-link.h", "scripts/dtc/include-prefixes/dt-bindings/clock/x.h"} {
		os.Remove(in(f))
		if err := os.WriteFile(in(f), []byte("patched\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(in("fs/new/deeper"), 0o755)
	os.WriteFile(in("fs/new/deeper/new.c"), []byte("new\n"), 0o644)
	os.WriteFile(in("fs/proc/meminfo.o"), []byte("object\n"), 0o644)
	os.WriteFile(in("fs/proc/.meminfo.o.cmd"), []byte("cmd\n"), 0o644)
	os.WriteFile(in("fs/proc/.meminfo.o.d"), []byte("meminfo.o: fs/proc/meminfo.c\n"), 0o644)
	writeJournal(t, tr, journal{Files: []string{"fs/proc/meminfo.c", "x-link.h", "include/dt-bindings/clock/x.h",
		"scripts/dtc/include-prefixes/dt-bindings/clock/x.h", "fs/new/deeper/new.c"}, Objects: []string{"fs/proc/meminfo.o"}})
	if err := tr.recover(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"fs/proc/meminfo.c", "include/dt-bindings/clock/x.h"} {
		a, err1 := os.Stat(in(f))
		b, err2 := os.Stat(filepath.Join(tr.Source, f))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not the source tree's file again (%v, %v)", f, err1, err2)
		}
	}
	if l, err := os.Readlink(in("x-link.h")); err != nil || l != "include/dt-bindings/clock/x.h" {
		t.Errorf("x-link.h is not the source tree's symlink again: %q, %v", l, err)
	}
	for _, f := range []string{"fs/new", "fs/proc/meminfo.o", "fs/proc/.meminfo.o.cmd", "fs/proc/.meminfo.o.d", filepath.Join("..", journalName)} {
		if _, err := os.Lstat(in(f)); err == nil {
			t.Errorf("%s is left", f)
		}
	}
}

// TestRecoverChecksJournal gives recover hostile journals (the attack of
// issue #16 wrote one through a patch; the journal is now beside the
// tree, where no patch reaches, and still each path is checked): nothing
// outside the tree is removed or replaced, and recover fails, which
// makes Prepare prepare the tree again.
func TestRecoverChecksJournal(t *testing.T) {
	for _, c := range []struct {
		name string
		j    func(rel string) journal
	}{
		{"file out", func(rel string) journal { return journal{Files: []string{rel}} }},
		{"file out, uncleaned", func(rel string) journal { return journal{Files: []string{"fs/../" + rel}} }},
		{"file absolute", func(rel string) journal { return journal{Files: []string{"/victim/journal-victim.c"}} }},
		{"file through a symlink out", func(string) journal { return journal{Files: []string{"out/victim/journal-victim.c"}} }},
		{"tool state", func(string) journal { return journal{Files: []string{"fs/.kpatch-x"}} }},
		{"object out", func(rel string) journal { return journal{Objects: []string{strings.TrimSuffix(rel, ".c") + ".o"}} }},
		{"object through a symlink out", func(string) journal { return journal{Objects: []string{"out/victim/journal-victim.o"}} }},
		{"object not an object", func(string) journal { return journal{Objects: []string{"fs/proc/meminfo.c"}} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, root := fakeTree(t)
			victim := filepath.Join(root, "victim", "journal-victim.c")
			os.MkdirAll(filepath.Dir(victim), 0o755)
			os.WriteFile(victim, []byte("victim\n"), 0o644)
			os.WriteFile(strings.TrimSuffix(victim, ".c")+".o", []byte("victim\n"), 0o644)
			os.Symlink(root, filepath.Join(tr.Dir, "out"))
			rel, _ := filepath.Rel(tr.Dir, victim)
			writeJournal(t, tr, c.j(rel))
			err := tr.recover()
			if err == nil {
				t.Error("recover accepted the journal")
			}
			for _, f := range []string{victim, strings.TrimSuffix(victim, ".c") + ".o"} {
				if b, err := os.ReadFile(f); err != nil || string(b) != "victim\n" {
					t.Errorf("%s: %q, %v: the file outside the tree changed", f, b, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(tr.Dir, "fs/proc/meminfo.c")); err != nil || string(b) != "int meminfo;\n" {
				t.Errorf("fs/proc/meminfo.c: %q, %v", b, err)
			}
		})
	}
}

// TestVerify checks the comparison of a prepared tree with its source
// tree and with what the preparation made: each kind of difference is
// found and named, a killed run's temporary file is removed.
func TestVerify(t *testing.T) {
	for _, c := range []struct {
		name, want string
		wantErr    string // verify fails with this
		change     func(tr *Tree) error
	}{
		{"same", "", "", func(*Tree) error { return nil }},
		{"a killed run's temporary file", "", "", func(tr *Tree) error {
			return os.WriteFile(filepath.Join(tr.Dir, "fs", patch.ToolStatePrefix+"replace-123"), nil, 0o644)
		}},
		{"a copy with the same contents", "", "", func(tr *Tree) error {
			f := filepath.Join(tr.Dir, "fs/proc/meminfo.c")
			os.Remove(f)
			return os.WriteFile(f, []byte("int meminfo;\n"), 0o644)
		}},
		{"a source file replaced", "fs/proc/Makefile is not the source tree's", "", func(tr *Tree) error {
			f := filepath.Join(tr.Dir, "fs/proc/Makefile")
			os.Remove(f)
			return os.WriteFile(f, []byte("$(shell id)\n"), 0o644)
		}},
		{"a source file's link replaced by a symlink", "fs/proc/Makefile is not the source tree's", "", func(tr *Tree) error {
			f := filepath.Join(tr.Dir, "fs/proc/Makefile")
			os.Remove(f)
			return os.Symlink(filepath.Join(tr.Source, "fs/proc/Makefile"), f)
		}},
		{"a symlink's target", "x-link.h is not the source tree's", "", func(tr *Tree) error {
			f := filepath.Join(tr.Dir, "x-link.h")
			os.Remove(f)
			return os.Symlink("/etc/passwd", f)
		}},
		{"a source file removed", "fs/proc/meminfo.c of the source tree is missing", "", func(tr *Tree) error {
			return os.Remove(filepath.Join(tr.Dir, "fs/proc/meminfo.c"))
		}},
		{"a file added", "fs/proc/Kbuild is neither a file of the source tree nor one the preparation made", "", func(tr *Tree) error {
			return os.WriteFile(filepath.Join(tr.Dir, "fs/proc/Kbuild"), []byte("$(shell id)\n"), 0o644)
		}},
		{"a generated file changed", "include/generated/autoconf.h is not what the preparation made", "", func(tr *Tree) error {
			return os.WriteFile(filepath.Join(tr.Dir, "include/generated/autoconf.h"), []byte("#define CONFIG_POISON 1\n"), 0o644)
		}},
		{"a generated file removed", "include/generated/autoconf.h, made by the preparation, is missing", "", func(tr *Tree) error {
			return os.Remove(filepath.Join(tr.Dir, "include/generated/autoconf.h"))
		}},
		{"the configuration changed", ".config is not what the preparation made", "", func(tr *Tree) error {
			return os.WriteFile(filepath.Join(tr.Dir, ".config"), []byte("CONFIG_POISON=y\n"), 0o644)
		}},
		{"a manifest path out of the tree", "", "malformed", func(tr *Tree) error {
			f, err := os.OpenFile(filepath.Join(tr.home, manifestName), os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("file 00 ../../victim\n")
				f.Close()
			}
			return err
		}},
		{"the volatile file changed", "", "", func(tr *Tree) error {
			return os.WriteFile(filepath.Join(tr.Dir, ".missing-syscalls.d"), []byte("-: other\n"), 0o644)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, _ := fakeTree(t)
			// What a preparation makes: generated files, a replaced
			// .config, the volatile dependency list.
			os.WriteFile(filepath.Join(tr.Source, ".config"), []byte("CONFIG_USER=y\n"), 0o644)
			os.Remove(filepath.Join(tr.Dir, ".config"))
			os.WriteFile(filepath.Join(tr.Dir, ".config"), []byte("CONFIG_KERNEL=y\n"), 0o644)
			os.MkdirAll(filepath.Join(tr.Dir, "include/generated"), 0o755)
			os.WriteFile(filepath.Join(tr.Dir, "include/generated/autoconf.h"), []byte("#define CONFIG_KERNEL 1\n"), 0o644)
			os.WriteFile(filepath.Join(tr.Dir, ".missing-syscalls.d"), []byte("-: x\n"), 0o644)
			files, err := sourceFiles(tr.Source)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.writeManifest(files); err != nil {
				t.Fatal(err)
			}
			if err := c.change(tr); err != nil {
				t.Fatal(err)
			}
			got, err := tr.verify(files)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("verify: %q, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("verify: %q, %v; want %q", got, err, c.want)
			}
			if _, err := os.Lstat(filepath.Join(tr.Dir, "fs", patch.ToolStatePrefix+"replace-123")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a killed run's temporary file is left: %v", err)
			}
		})
	}
}
