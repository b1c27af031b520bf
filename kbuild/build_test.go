package kbuild_test

import (
	"context"
	"fmt"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/patch"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func TestBuildOnePatch(t *testing.T) {
	src := testutil.KernelTree(t)
	before := testutil.TreeDigest(t, src)
	pp, err := patch.Read(filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches", "meminfo-string.patch"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	opts := kbuild.Options{SourceDir: src, CacheDir: cache, Patches: []*patch.Patch{pp}, Jobs: 2}
	res, err := kbuild.Run(context.Background(), opts)
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
	res2, err := kbuild.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Cached || !slices.Equal(res2.Changed, res.Changed) {
		t.Errorf("second run: cached %v changed %v", res2.Cached, res2.Changed)
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree changed")
	}
	// A git rename with changes, as git format-patch writes it, at an
	// offset: the build compiles the new file, not the old one.
	rename := filepath.Join(t.TempDir(), "0001-rename.patch")
	os.WriteFile(rename, []byte(renamePatch), 0o644)
	p3, err := patch.Read(rename)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	opts.Patches = []*patch.Patch{p3}
	opts.Log = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	res3, err := kbuild.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res3.New, []string{"fs/proc/meminfo_show.o"}) || slices.Contains(res3.Changed, "fs/proc/meminfo.o") {
		t.Errorf("rename: changed %v new %v, want the new fs/proc/meminfo_show.o", res3.Changed, res3.New)
	}
	if _, err := os.Stat(filepath.Join(res3.WorkDir, "fs/proc/meminfo.c")); err == nil {
		t.Errorf("rename: the old file is still in the work tree")
	}
	if out, _ := exec.Command("strings", filepath.Join(res3.WorkDir, "fs/proc/meminfo_show.o")).Output(); !strings.Contains(string(out), "VMALLOCCHUNK") {
		t.Errorf("rename: the new object does not have the change")
	}
	if !slices.Contains(logs, "Makefile: hunk #1 succeeded at 72 (offset 1 line)") {
		t.Errorf("rename: the offset is not reported: %q", logs)
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree changed")
	}
}

// renamePatch renames fs/proc/meminfo.c with a change; its Makefile hunk
// says line 71 for lines that are at 72.
const renamePatch = `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001
From: A Developer <dev@example.com>
Subject: [PATCH] proc: rename meminfo.c and shout VmallocChunk

---
 Makefile                                  | 2 +-
 fs/proc/{meminfo.c => meminfo_show.c}     | 2 +-
 2 files changed, 2 insertions(+), 2 deletions(-)
 rename fs/proc/{meminfo.c => meminfo_show.c} (95%)

diff --git a/Makefile b/Makefile
index 1111111..2222222 100644
--- a/Makefile
+++ b/Makefile
@@ -71,3 +71,3 @@ core-y := \
 	fs/proc/generic.o \
-	fs/proc/meminfo.o \
+	fs/proc/meminfo_show.o \
 	fs/proc/cmdline.o \
diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo_show.c
similarity index 95%
rename from fs/proc/meminfo.c
rename to fs/proc/meminfo_show.c
index 3333333..4444444 100644
--- a/fs/proc/meminfo.c
+++ b/fs/proc/meminfo_show.c
@@ -38,3 +38,3 @@
 	show_val_kb(m, "VmallocUsed:    ", 0);
-	show_val_kb(m, "VmallocChunk:   ", 0);
+	show_val_kb(m, "VMALLOCCHUNK:   ", 0);
 	show_val_kb(m, "Percpu:         ", percpu);
-- 
2.39.2
`

func TestPatchDoesNotApply(t *testing.T) {
	src := testutil.KernelTree(t)
	before := testutil.TreeDigest(t, src)
	bad := filepath.Join(t.TempDir(), "bad.patch")
	os.WriteFile(bad, []byte("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -36,2 +36,2 @@\n-this line is not there\n+replacement\n context that is not there\n"), 0o644)
	p, err := patch.Read(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kbuild.Run(context.Background(), kbuild.Options{SourceDir: src, CacheDir: t.TempDir(), Patches: []*patch.Patch{p}})
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
	patches := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches")
	names := []string{"meminfo-string.patch", "cmdline-string.patch"}
	want := []string{"fs/proc/meminfo.o", "fs/proc/cmdline.o"}
	errs := make(chan error, len(names))
	results := make([]*kbuild.Result, len(names))
	for i, n := range names {
		go func(i int, n string) {
			p, err := patch.Read(filepath.Join(patches, n))
			if err != nil {
				errs <- err
				return
			}
			res, err := kbuild.Run(context.Background(), kbuild.Options{SourceDir: src, CacheDir: cache, Patches: []*patch.Patch{p}})
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
