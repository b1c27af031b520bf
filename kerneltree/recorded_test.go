package kerneltree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecordedCommand reads kbuild's records of an object's command in
// the two spellings (6.1's cmd_, 6.3's savedcmd_), unescapes make's
// "$$" and "$(pound)", and says why a record is no use.
func TestRecordedCommand(t *testing.T) {
	const deps = "\nsource_fs/proc/x.o := fs/proc/x.c\n\ndeps_fs/proc/x.o := \\\n  include/linux/kconfig.h \\\n\nfs/proc/x.o: $(deps_fs/proc/x.o)\n"
	for _, c := range []struct{ name, record, want, err string }{
		{"6.1", "cmd_fs/proc/x.o := gcc -c -o fs/proc/x.o fs/proc/x.c ; ./tools/objtool/objtool --orc fs/proc/x.o" + deps,
			"gcc -c -o fs/proc/x.o fs/proc/x.c ; ./tools/objtool/objtool --orc fs/proc/x.o", ""},
		{"6.12", "savedcmd_fs/proc/x.o := gcc -DA='$$x' -DB=$(pound) -c -o fs/proc/x.o fs/proc/x.c" + deps,
			"gcc -DA='$x' -DB=# -c -o fs/proc/x.o fs/proc/x.c", ""},
		{"another object's", "cmd_fs/proc/y.o := gcc -c -o fs/proc/y.o fs/proc/y.c\n", "", "no command recorded for fs/proc/x.o"},
		{"no dependencies", "cmd_fs/proc/x.o := gcc -c -o fs/proc/x.o fs/proc/x.c\nsource_fs/proc/x.o := fs/proc/x.c\n", "", "no dependency list"},
		{"assembly", "cmd_fs/proc/x.o := gcc -c -o fs/proc/x.o fs/proc/x.S" + strings.ReplaceAll(deps, "x.c", "x.S"), "", "not a C file"},
		{"make syntax", "cmd_fs/proc/x.o := $(CC) -c -o fs/proc/x.o fs/proc/x.c" + deps, "", "make syntax at column 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := recordedCommand("REC", []byte(c.record), "fs/proc/x.o")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "REC") {
					t.Errorf("got %q, %v; want an error naming REC with %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestRecordedCommandsRefuse: the recorded commands are used only for a
// patch of C sources and headers, with a record of every object made
// for this tree's directory.
func TestRecordedCommandsRefuse(t *testing.T) {
	tr, root := fakeTree(t)
	files, err := sourceFiles(tr.Source)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.writeManifest(files); err != nil {
		t.Fatal(err)
	}
	orig := filepath.Join(root, "objects")
	good := "savedcmd_fs/proc/meminfo.o := gcc " + kcflags(tr.Dir) + " -c -o fs/proc/meminfo.o fs/proc/meminfo.c\n" +
		"source_fs/proc/meminfo.o := fs/proc/meminfo.c\ndeps_fs/proc/meminfo.o := \\\n"
	write := func(text string) {
		os.MkdirAll(filepath.Join(orig, "fs/proc"), 0o755)
		if err := os.WriteFile(filepath.Join(orig, cmdName("fs/proc/meminfo.o")), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs := []string{"fs/proc/meminfo.o"}
	if _, err := tr.recordedCommands(orig, objs, []string{"fs/proc/meminfo.c"}); err == nil || !strings.Contains(err.Error(), "no recorded command") {
		t.Errorf("no record: %v", err)
	}
	write(good)
	cmds, err := tr.recordedCommands(orig, objs, []string{"fs/proc/meminfo.c", "include/linux/x.h"})
	if err != nil || !strings.HasPrefix(cmds["fs/proc/meminfo.o"], "gcc ") {
		t.Errorf("good record: %q, %v", cmds, err)
	}
	if _, err := tr.recordedCommands(orig, objs, []string{"fs/proc/meminfo.c", "fs/proc/Makefile"}); err == nil || !strings.Contains(err.Error(), "fs/proc/Makefile, not a C source or header") {
		t.Errorf("a Makefile patched: %v", err)
	}
	write(strings.ReplaceAll(good, tr.Dir, "/elsewhere/tree"))
	if _, err := tr.recordedCommands(orig, objs, []string{"fs/proc/meminfo.c"}); err == nil || !strings.Contains(err.Error(), "this tree's flags") {
		t.Errorf("a record of a tree elsewhere: %v", err)
	}
}

// TestVerifyRecordsStatData: a file verify hashed once is not hashed
// again while its stat data stay the same, and a file rewritten with
// the same size and modification time is still found changed (its
// change time moved).
func TestVerifyRecordsStatData(t *testing.T) {
	tr, _ := fakeTree(t)
	gen := filepath.Join(tr.Dir, "include/generated/autoconf.h")
	os.MkdirAll(filepath.Dir(gen), 0o755)
	if err := os.WriteFile(gen, []byte("#define CONFIG_KERNEL 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := sourceFiles(tr.Source)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.writeManifest(files); err != nil {
		t.Fatal(err)
	}
	if diff, err := tr.verify(files); diff != "" || err != nil {
		t.Fatalf("verify: %q, %v", diff, err)
	}
	known := tr.readVerified()
	if !strings.HasPrefix(known["include/generated/autoconf.h"], "made ") {
		t.Fatalf("no stat data recorded for the generated file: %q", known)
	}
	if diff, err := tr.verify(files); diff != "" || err != nil {
		t.Fatalf("verify again: %q, %v", diff, err)
	}
	info, err := os.Stat(gen)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a change time of its own
	if err := os.WriteFile(gen, []byte("#define CONFIG_POISON 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(gen, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if diff, err := tr.verify(files); diff != "include/generated/autoconf.h is not what the preparation made" || err != nil {
		t.Errorf("verify after a same-size rewrite with the old mtime: %q, %v", diff, err)
	}
}

// TestPreparedDepsDebian: the headers the preparation's generated files
// depend on (asm-offsets.h includes most of the core headers, seq_file.h
// among them) are known, so a patch to one of them is left to make; a
// plain source file is not among them.
func TestPreparedDepsDebian(t *testing.T) {
	tree, _ := debianTree(t)
	deps, err := tree.preparedDeps()
	if err != nil {
		t.Fatal(err)
	}
	if got := deps["include/linux/sched.h"]; got != "arch/x86/kernel/asm-offsets.s" {
		t.Errorf("include/linux/sched.h: a dependency of %q, want arch/x86/kernel/asm-offsets.s", got)
	}
	for _, f := range []string{"fs/proc/loadavg.c", "fs/xfs/xfs_stats.c"} {
		if deps[f] != "" {
			t.Errorf("%s: a dependency of %s", f, deps[f])
		}
	}
	if _, err := tree.recordedCommands(t.TempDir(), nil, []string{"include/linux/sched.h"}); err == nil || !strings.Contains(err.Error(), "asm-offsets.s, made by the preparation") {
		t.Errorf("a patch of include/linux/sched.h: %v", err)
	}
}
