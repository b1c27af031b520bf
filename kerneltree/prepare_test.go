package kerneltree

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// debianTree prepares (or takes from the test cache) linux-source-6.1
// with the installed kernel's configuration.
func debianTree(t testing.TB) (*Tree, *Running) {
	t.Helper()
	src := testutil.LinuxSource(t)
	cache := testutil.CacheDir(t)
	k := testutil.DebianKernel(t)
	r, err := FindRunning(k.Vmlinux, Overrides{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tree, err := Prepare(context.Background(), PrepareOptions{SourceDir: src, Config: k.Config, Symvers: r.Symvers, Release: r.Release, CC: r.CC,
		CacheDir: cache, Jobs: 2, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prepare: %v (cached %v)", time.Since(start), tree.Cached)
	return tree, r
}

func TestPrepareDebian(t *testing.T) {
	tree, r := debianTree(t)
	uts, err := os.ReadFile(filepath.Join(tree.Dir, "include/generated/utsrelease.h"))
	if err != nil || !strings.Contains(string(uts), `"`+r.Release+`"`) {
		t.Errorf("utsrelease.h %q (%v), want %q", uts, err, r.Release)
	}
	for _, f := range []string{"include/generated/autoconf.h", "scripts/mod/modpost", "tools/objtool/objtool", "scripts/basic/fixdep"} {
		if _, err := os.Stat(filepath.Join(tree.Dir, f)); err != nil {
			t.Errorf("prepared tree lacks %s: %v", f, err)
		}
	}
	want, _ := os.ReadFile(testutil.DebianKernel(t).Config)
	got, _ := os.ReadFile(filepath.Join(tree.Dir, ".config"))
	if d := ConfigDiff(want, got); d != "" {
		t.Errorf("olddefconfig changed the configuration: %s", d)
	}
	if err := tree.checkState(); err != nil {
		t.Error(err)
	}
	// A second preparation is the cached tree.
	again, err := Prepare(context.Background(), PrepareOptions{SourceDir: testutil.LinuxSource(t), Config: testutil.DebianKernel(t).Config, Symvers: r.Symvers, Release: r.Release,
		CC: r.CC, CacheDir: testutil.CacheDir(t), Log: t.Logf})
	if err != nil || !again.Cached || again.Dir != tree.Dir {
		t.Errorf("second preparation: %+v, %v", again, err)
	}
}

// BenchmarkVerifyDebian measures what trusting a cached prepared tree
// costs: listing the source tree (the cache key) and comparing the
// prepared tree with it and with what the preparation made.
func BenchmarkVerifyDebian(b *testing.B) {
	tree, _ := debianTree(b)
	lock, err := tree.lockEntry() // no other run's patches meanwhile
	if err != nil {
		b.Fatal(err)
	}
	defer lock.Unlock()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		files, err := sourceFiles(tree.Source)
		if err != nil {
			b.Fatal(err)
		}
		listed := time.Since(start)
		diff, err := tree.verify(files)
		if err != nil || diff != "" {
			b.Fatalf("verify: %q, %v", diff, err)
		}
		b.Logf("%d files: listing %v, verify %v", len(files), listed, time.Since(start)-listed)
	}
}
