package kerneltree

import (
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func TestIndexDebian(t *testing.T) {
	testutil.NeedDebianKernel(t)
	cache := testutil.CacheDir(t)
	r, err := FindRunning(testutil.DebianKernel(t).Vmlinux, Overrides{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ix, err := LoadIndex(r, cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("index: %v, %d objects, %d files, %d modules", time.Since(start), len(ix.Objects), len(ix.Files), len(ix.Modules))
	check := func(file, obj, parent string) {
		t.Helper()
		for _, o := range ix.ObjectsOf(file) {
			if o.Path == obj && o.Parent == parent {
				return
			}
		}
		t.Errorf("%s: no object %s of %s among %d", file, obj, parent, len(ix.ObjectsOf(file)))
	}
	check("fs/proc/meminfo.c", "fs/proc/meminfo.o", Vmlinux)
	check("fs/xfs/xfs_super.c", "fs/xfs/xfs_super.o", "xfs")
	check("include/linux/fs.h", "fs/proc/meminfo.o", Vmlinux)
	check("include/linux/fs.h", "fs/xfs/xfs_super.o", "xfs")
	if n := len(ix.ObjectsOf("fs/proc/meminfo.c")); n != 1 {
		t.Errorf("fs/proc/meminfo.c: %d objects, want 1", n)
	}
	for _, o := range ix.Objects {
		for _, bad := range []string{"scripts/", "arch/x86/boot/", "arch/x86/entry/vdso/vclock", "arch/x86/purgatory/"} {
			if len(o.Path) > len(bad) && o.Path[:len(bad)] == bad {
				t.Errorf("helper object %s (%s) indexed", o.Path, o.Parent)
			}
		}
	}
	if ix.Modules["xfs"] == "" {
		t.Error("module xfs not indexed")
	}
}

func TestHeaderUsersDebian(t *testing.T) {
	tree, r := debianTree(t)
	ix, err := LoadIndex(r, testutil.CacheDir(t), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	users, err := ix.HeaderUsers(tree.Dir, "include/linux/irqflags.h")
	if err != nil {
		t.Fatal(err)
	}
	lines := len(ix.ObjectsOf("include/linux/irqflags.h"))
	t.Logf("irqflags.h: %d objects by includes (%v), %d by line tables", len(users), time.Since(start), lines)
	// A macro header: the line tables name a few objects, the includes
	// most of the kernel.
	if len(users) < 5000 || len(users) <= lines {
		t.Errorf("irqflags.h: %d users by includes, %d by line tables", len(users), lines)
	}
	users, err = ix.HeaderUsers(tree.Dir, "include/linux/count_zeros.h")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) < len(ix.ObjectsOf("include/linux/count_zeros.h")) {
		t.Errorf("count_zeros.h: %d users, fewer than the line tables' %d", len(users), len(ix.ObjectsOf("include/linux/count_zeros.h")))
	}
	t.Logf("count_zeros.h: %d objects by includes", len(users))
}
