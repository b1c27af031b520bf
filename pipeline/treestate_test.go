package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// TestRealToolState replays the two attacks of issue #16 on the tool's
// own state, the journal of a patched build and the saved originals,
// with patches that name them as the prepared tree held them
// (.kpatch-journal, .kpatch-saved/...): both are refused before anything
// is built, the file outside the tree that the forged journal named is
// kept, and a later, clean build in the same cache reuses the prepared
// tree (nothing in it differs from the source tree) and does not run
// the Makefile the attack tried to leave in it. The state's new place
// beside the tree, and files that only the prepared tree has (generated
// ones, build outputs), are refused too.
func TestRealToolState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernel objects (minutes cold)")
	}
	src := testutil.LinuxSource(t)
	dir := t.TempDir()
	runLogged := realRunner(t, testutil.CacheDir(t), filepath.Join(dir, "out"))
	var logged []string
	run := func(patch string) (*pipeline.Result, error) {
		res, l, err := runLogged(patch)
		logged = l
		return res, err
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A clean build first: the prepared tree's place.
	res, err := run(write("meminfo.patch", testutil.LinuxMeminfoPatch))
	if err != nil {
		t.Fatal(err)
	}
	tree := res.Running

	victim := filepath.Join(t.TempDir(), "victim", "journal-victim.c")
	os.MkdirAll(filepath.Dir(victim), 0o755)
	if err := os.WriteFile(victim, []byte("int victim;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(tree, victim)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "poisoned")
	// The journal as the old layout wrote it for this patch, and the
	// forged one: its list of new files names the victim.
	journal := `--- a/.kpatch-journal
+++ b/.kpatch-journal
@@ -1 +1 @@
-{"Files":["fs/proc/meminfo.c"],"New":[".kpatch-journal"],"Objects":["fs/proc/meminfo.o"]}
\ No newline at end of file
+{"Files":["fs/proc/meminfo.c"],"New":["` + rel + `"],"Objects":["../../victim/journal-victim.o"]}
\ No newline at end of file
` + testutil.LinuxMeminfoPatch
	// The saved original of fs/proc/Makefile, poisoned: the old cleanup
	// "restored" it into the prepared tree, where the next build ran it.
	saved := `--- a/fs/proc/Makefile
+++ b/fs/proc/Makefile
@@ -1,5 +1,5 @@
 # SPDX-License-Identifier: GPL-2.0
 #
-# Makefile for the Linux proc filesystem routines.
+# Makefile for the Linux proc filesystem routines (patched).
 #
 
--- a/.kpatch-saved/fs/proc/Makefile
+++ b/.kpatch-saved/fs/proc/Makefile
@@ -1,5 +1,6 @@
 # SPDX-License-Identifier: GPL-2.0
 #
+$(shell touch ` + marker + `)
 # Makefile for the Linux proc filesystem routines.
 #
 
` + testutil.LinuxMeminfoPatch
	// The state now lives beside the tree: a patch reaching for it there
	// leaves the tree.
	beside := `--- a/../journal
+++ b/../journal
@@ -1 +1 @@
-{}
+{"Files":["` + rel + `"]}
` + testutil.LinuxMeminfoPatch
	macros := `--- a/fs/../../kpatch-include/kpatch-macros.h
+++ b/fs/../../kpatch-include/kpatch-macros.h
@@ -1 +1,2 @@
+$(shell touch ` + marker + `)
 #ifndef __KPATCH_MACROS_H_
` + testutil.LinuxMeminfoPatch
	for _, c := range []struct {
		name, patch, path string
		key               refusal.Key
	}{
		{"journal", journal, ".kpatch-journal", refusal.PatchToolState},
		{"saved-originals", saved, ".kpatch-saved/fs/proc/Makefile", refusal.PatchToolState},
		{"journal-beside", beside, "../journal", refusal.PatchOutside},
		{"macros-beside", macros, "../kpatch-include/kpatch-macros.h", refusal.PatchOutside},
		// Files of the prepared tree that the user's tree does not have.
		{"generated-header", "--- a/include/generated/autoconf.h\n+++ b/include/generated/autoconf.h\n@@ -1 +1,2 @@\n #define CONFIG_X86_64 1\n+#define CONFIG_KPATCH_POISON 1\n" + testutil.LinuxMeminfoPatch,
			"include/generated/autoconf.h", refusal.PatchGenerated},
		{"configuration", "--- a/include/config/auto.conf\n+++ b/include/config/auto.conf\n@@ -1 +1,2 @@\n #\n+CONFIG_KPATCH_POISON=y\n" + testutil.LinuxMeminfoPatch,
			"include/config/auto.conf", refusal.PatchGenerated},
		{"prepared-only", "--- a/tools/objtool/objtool\n+++ b/tools/objtool/objtool\n@@ -1 +1 @@\n-x\n+y\n" + testutil.LinuxMeminfoPatch,
			"tools/objtool/objtool: no such file in the source tree", refusal.PatchNotInTree},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(write(c.name+".patch", c.patch))
			var pe *pipeline.Error
			if !errors.As(err, &pe) || pe.Key != c.key || !strings.Contains(err.Error(), c.path) {
				t.Errorf("got %v, want the refusal %s naming %s", err, c.key, c.path)
			}
			if _, err := os.Stat(victim); err != nil {
				t.Errorf("the file outside the tree is gone: %v", err)
			}
		})
	}
	// A later clean build: the prepared tree is reused as it is (nothing
	// in it differs from the source tree), fs/proc's Makefile is the
	// user's, and no injected command runs.
	if _, err := run(write("devices.patch", readFile(t, filepath.Join(testutil.RepoRoot(), "testdata/realpatches/proc-devices-text.patch")))); err != nil {
		t.Fatalf("clean build after the attacks: %v", err)
	}
	for _, l := range logged {
		if strings.Contains(l, "preparing the tree") || strings.Contains(l, "differs from the source tree") {
			t.Errorf("the clean build found the cache changed: %s", l)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the clean build ran the poisoned Makefile")
	}
	a, err1 := os.Stat(filepath.Join(tree, "fs/proc/Makefile"))
	b, err2 := os.Stat(filepath.Join(src, "fs/proc/Makefile"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("the prepared tree's fs/proc/Makefile is not the source tree's (%v, %v)", err1, err2)
	}
}

// realRunner returns a function that runs the real-kernel path on
// linux-source-6.1 with one patch, in the cache, its module written in
// out, and returns what it logged.
func realRunner(t *testing.T, cache, out string) func(patch string) (*pipeline.Result, []string, error) {
	src := testutil.LinuxSource(t)
	k := testutil.DebianKernel(t)
	return func(patch string) (*pipeline.Result, []string, error) {
		var mu sync.Mutex
		var logged []string
		start := time.Now()
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Config: k.Config, Vmlinux: k.Vmlinux,
			Patches: []string{patch}, OutputDir: out, CacheDir: cache, Jobs: 2,
			Log: func(f string, a ...any) {
				line := fmt.Sprintf(f, a...)
				mu.Lock()
				logged = append(logged, line)
				mu.Unlock()
				t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), line)
			}})
		return res, logged, err
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRealTamperedCache tampers with a cached prepared tree by hand, as
// someone who can write the cache could (fs/proc/Makefile replaced by one
// that runs a command and compiles devices.c with an injected header):
// the next build notices before anything is built, names the file,
// prepares the tree again (its original objects discarded with it), and
// produces a clean module. It uses a cache of its own (the shared one's
// index linked into it), which it prepares again on every run.
func TestRealTamperedCache(t *testing.T) {
	if testing.Short() {
		t.Skip("prepares a tree (a minute or two)")
	}
	src := testutil.LinuxSource(t)
	shared := testutil.CacheDir(t)
	cache := filepath.Join(shared, "tamper-test")
	os.MkdirAll(cache, 0o755)
	// The index of the debug vmlinux and modules (a minute to build) is
	// only read: the shared cache's serves.
	seeds, _ := filepath.Glob(filepath.Join(shared, "index-*"))
	for _, f := range seeds {
		os.Symlink(f, filepath.Join(cache, filepath.Base(f)))
	}
	dir := t.TempDir()
	runLogged := realRunner(t, cache, filepath.Join(dir, "out"))
	var logged []string
	run := func(patch string) (*pipeline.Result, error) {
		res, l, err := runLogged(patch)
		logged = l
		return res, err
	}
	patch := filepath.Join(testutil.RepoRoot(), "testdata/realpatches/proc-devices-text.patch")
	res, err := run(patch)
	if err != nil {
		t.Fatal(err)
	}
	tree := res.Running
	marker := filepath.Join(dir, "poisoned")
	mk := filepath.Join(tree, "fs/proc/Makefile")
	orig := readFile(t, mk)
	os.Remove(mk)
	poisoned := orig + "$(shell touch " + marker + ")\nCFLAGS_devices.o += -include $(srctree)/fs/proc/poison.h\n"
	if err := os.WriteFile(mk, []byte(poisoned), 0o644); err != nil {
		t.Fatal(err)
	}
	header := "#include <linux/seq_file.h>\n#define seq_puts(m, s) seq_puts(m, \"POISONED \" s)\n"
	if err := os.WriteFile(filepath.Join(tree, "fs/proc/poison.h"), []byte(header), 0o644); err != nil {
		t.Fatal(err)
	}

	res, err = run(patch)
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Join(logged, "\n")
	for _, want := range []string{"differs from the source tree: fs/proc/Makefile is not the source tree's; preparing it again",
		"preparing the tree", "building 1 original object(s) (0 cached)"} {
		if !strings.Contains(log, want) {
			t.Errorf("the build after the tampering did not log %q", want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the tampered Makefile ran")
	}
	if ko := readFile(t, res.Module); strings.Contains(ko, "POISONED") || !strings.Contains(ko, "Character devices (live patched)") {
		t.Errorf("the module %s is not the clean one", res.Module)
	}
	a, err1 := os.Stat(mk)
	b, err2 := os.Stat(filepath.Join(src, "fs/proc/Makefile"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("fs/proc/Makefile is not the source tree's after the build (%v, %v)", err1, err2)
	}
	if _, err := os.Stat(filepath.Join(tree, "fs/proc/poison.h")); err == nil {
		t.Error("fs/proc/poison.h is left in the prepared tree")
	}
}

// TestRealSymlinkPath patches headers through the tree's symlinked
// directory scripts/dtc/include-prefixes/dt-bindings: the objects are
// those of the file the link leads to (include/dt-bindings/...), and a
// file no object is built from is refused naming that file.
func TestRealSymlinkPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernel objects")
	}
	dir := t.TempDir()
	runLogged := realRunner(t, testutil.CacheDir(t), filepath.Join(dir, "out"))
	var logged []string
	run := func(name, text string) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, l, err := runLogged(p)
		logged = l
		return err
	}
	// A macro nothing uses: the header's includers (the include graph,
	// read through the symlink at the header it leads to) are built and
	// none changes.
	leds := `--- a/scripts/dtc/include-prefixes/dt-bindings/leds/leds-pca955x.h
+++ b/scripts/dtc/include-prefixes/dt-bindings/leds/leds-pca955x.h
@@ -12,5 +12,6 @@
 #define PCA955X_TYPE_NONE         0
 #define PCA955X_TYPE_LED          1
 #define PCA955X_TYPE_GPIO         2
+#define PCA955X_TYPE_SPARE        3
 
 #endif /* _DT_BINDINGS_LEDS_PCA955X_H */
`
	err := run("leds.patch", leds)
	var pe *pipeline.Error
	if !errors.As(err, &pe) || pe.Key != refusal.NoFunctionalChange {
		t.Errorf("got %v, want no functional change (a macro nothing uses)", err)
	}
	if !strings.Contains(strings.Join(logged, "\n"), "object(s) to build: drivers/leds/leds-pca955x.o") {
		t.Error("drivers/leds/leds-pca955x.o, which includes the header, was not built")
	}
	clock := `--- a/scripts/dtc/include-prefixes/dt-bindings/clock/qcom,dispcc-sm8250.h
+++ b/scripts/dtc/include-prefixes/dt-bindings/clock/qcom,dispcc-sm8250.h
@@ -1,4 +1,4 @@
-/* SPDX-License-Identifier: GPL-2.0 */
+/* SPDX-License-Identifier: GPL-2.0-only */
 /*
  * Copyright (c) 2018-2020, The Linux Foundation. All rights reserved.
  */
`
	err = run("clock.patch", clock)
	want := "clock.patch:1: scripts/dtc/include-prefixes/dt-bindings/clock/qcom,dispcc-sm8250.h: no object of the running kernel is built from it (the file is include/dt-bindings/clock/qcom,dispcc-sm8250.h, through a symlink of the tree)"
	if !errors.As(err, &pe) || pe.Key != refusal.NotCompiled || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v, want ...%s", err, want)
	}
}
