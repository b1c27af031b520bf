package kerneltree

import (
	"bytes"
	"context"
	"github.com/kpatchgo/kpatch-build/patch"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/module"
)

func TestBuildObjectsDebian(t *testing.T) {
	tree, _ := debianTree(t)
	dir := t.TempDir()
	pf := filepath.Join(dir, "meminfo.patch")
	os.WriteFile(pf, []byte(testutil.LinuxMeminfoPatch), 0o644)
	p, err := patch.Read(pf)
	if err != nil {
		t.Fatal(err)
	}
	objs := []string{"fs/proc/meminfo.o", "fs/proc/cmdline.o", "fs/xfs/xfs_stats.o"}
	start := time.Now()
	var makeLog bytes.Buffer
	res, err := tree.BuildObjects(context.Background(), ObjectsOptions{Objects: objs, Patches: []*patch.Patch{p}, Headers: module.Headers(),
		WorkDir: filepath.Join(dir, "work"), Jobs: 2, Log: t.Logf, BuildLog: &makeLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %v", time.Since(start))
	for _, obj := range objs {
		orig, err := os.ReadFile(filepath.Join(res.OrigDir, obj))
		if err != nil {
			t.Fatal(err)
		}
		patched, err := os.ReadFile(filepath.Join(res.PatchedDir, obj))
		if err != nil {
			t.Fatal(err)
		}
		same := bytes.Equal(orig, patched)
		if same != (obj != "fs/proc/meminfo.o") {
			t.Errorf("%s: original and patched identical: %v", obj, same)
		}
		f, err := elfobj.Open(filepath.Join(res.PatchedDir, obj))
		if err != nil {
			t.Fatal(err)
		}
		if obj == "fs/proc/meminfo.o" && f.SectionByName(".text.meminfo_proc_show") == nil {
			t.Errorf("%s: no .text.meminfo_proc_show: built without -ffunction-sections?", obj)
		}
	}
	// The prepared tree is back as it was: the user's file, no journal.
	// Checked under the tree's lock: other test processes (the pipeline's,
	// the command's) build in the same prepared tree.
	lock, err := tree.lockEntry()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	a, err1 := os.Stat(filepath.Join(tree.Dir, "fs/proc/meminfo.c"))
	b, err2 := os.Stat(filepath.Join(testutil.LinuxSource(t), "fs/proc/meminfo.c"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("fs/proc/meminfo.c not restored in the prepared tree: %v %v", err1, err2)
	}
	if _, err := os.Stat(filepath.Join(tree.home, journalName)); err == nil {
		t.Error("journal left behind")
	}
	// kbuild tags a module's object [M] (-DMODULE, KBUILD_MODNAME); the
	// command kbuild recorded for it, run without make, has the flags.
	if !regexp.MustCompile(`CC \[M\] +fs/xfs/xfs_stats.o|-DMODULE .*-DKBUILD_MODNAME='"xfs"' .*-c -o fs/xfs/xfs_stats.o `).Match(makeLog.Bytes()) {
		t.Errorf("fs/xfs/xfs_stats.o not built as a module object:\n%s", makeLog.String())
	}
	// The objects' .cmd files go with them: the tree is as prepared.
	if _, err := os.Stat(filepath.Join(tree.Dir, "fs/xfs/.xfs_stats.o.cmd")); err == nil {
		t.Error("fs/xfs/.xfs_stats.o.cmd left in the prepared tree")
	}
}
