package build_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/build"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func TestBuildOnePatch(t *testing.T) {
	src := testutil.KernelTree(t)
	before := testutil.TreeDigest(t, src)
	patch, err := build.ReadPatch(filepath.Join(testutil.RepoRoot(), "target", "kernel", "patches", "meminfo-string.patch"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	opts := build.Options{SourceDir: src, CacheDir: cache, Patches: []*build.Patch{patch}, Jobs: 2}
	res, err := build.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Changed, []string{"fs/proc/meminfo.o"}) || res.Cached {
		t.Errorf("changed %v new %v cached %v", res.Changed, res.New, res.Cached)
	}
	orig, _ := os.ReadFile(filepath.Join(res.SavedDir, "fs/proc/meminfo.o"))
	patched, _ := os.ReadFile(filepath.Join(res.WorkDir, "fs/proc/meminfo.o"))
	if len(orig) == 0 || string(orig) == string(patched) {
		t.Errorf("original and patched objects missing or identical")
	}
	if out, _ := exec.Command("readelf", "-SW", filepath.Join(res.WorkDir, "fs/proc/meminfo.o")).Output(); !strings.Contains(string(out), ".text.meminfo_proc_show") {
		t.Errorf("patched object not built with function sections")
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree changed")
	}
	// A second patch against the same tree uses the cached original build.
	res2, err := build.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Cached || !slices.Equal(res2.Changed, res.Changed) {
		t.Errorf("second run: cached %v changed %v", res2.Cached, res2.Changed)
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree changed")
	}
}

func TestPatchDoesNotApply(t *testing.T) {
	src := testutil.KernelTree(t)
	before := testutil.TreeDigest(t, src)
	bad := filepath.Join(t.TempDir(), "bad.patch")
	os.WriteFile(bad, []byte("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -36,2 +36,2 @@\n-this line is not there\n+replacement\n context that is not there\n"), 0o644)
	p, err := build.ReadPatch(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = build.Run(context.Background(), build.Options{SourceDir: src, CacheDir: t.TempDir(), Patches: []*build.Patch{p}})
	if err == nil || !strings.Contains(err.Error(), "fs/proc/meminfo.c") || !strings.Contains(err.Error(), "hunk #1") {
		t.Errorf("error %v, want one naming the file and the hunk", err)
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree changed")
	}
}

// TestConcurrentRunsShareCache runs two builds of different patches at once
// on one cache: both must succeed, whichever publishes the original build.
func TestConcurrentRunsShareCache(t *testing.T) {
	src := testutil.KernelTree(t)
	cache := t.TempDir()
	patches := filepath.Join(testutil.RepoRoot(), "target", "kernel", "patches")
	names := []string{"meminfo-string.patch", "cmdline-string.patch"}
	want := []string{"fs/proc/meminfo.o", "fs/proc/cmdline.o"}
	errs := make(chan error, len(names))
	results := make([]*build.Result, len(names))
	for i, n := range names {
		go func(i int, n string) {
			p, err := build.ReadPatch(filepath.Join(patches, n))
			if err != nil {
				errs <- err
				return
			}
			res, err := build.Run(context.Background(), build.Options{SourceDir: src, CacheDir: cache, Patches: []*build.Patch{p}})
			results[i] = res
			errs <- err
		}(i, n)
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range results {
		if !slices.Equal(r.Changed, []string{want[i]}) {
			t.Errorf("%s: changed %v, want %s", names[i], r.Changed, want[i])
		}
	}
}
