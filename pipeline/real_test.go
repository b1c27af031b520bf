package pipeline_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// Patches against linux-source-6.1 for the real-kernel path.
const (
	realHeaderPatch = `--- a/include/linux/count_zeros.h
+++ b/include/linux/count_zeros.h
@@ -25,7 +25,7 @@ static inline int count_leading_zeros(unsigned long x)
 	if (sizeof(x) == 4)
 		return BITS_PER_LONG - fls(x);
 	else
-		return BITS_PER_LONG - fls64(x);
+		return x ? BITS_PER_LONG - fls64(x) : BITS_PER_LONG;
 }
 
 #define COUNT_LEADING_ZEROS_0 BITS_PER_LONG
`
	realBrokenPatch = `--- a/fs/proc/meminfo.c
+++ b/fs/proc/meminfo.c
@@ -55,7 +55,7 @@ static int meminfo_proc_show(struct seq_file *m, void *v)
 	sreclaimable = global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B);
 	sunreclaim = global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B);
 
-	show_val_kb(m, "MemTotal:       ", i.totalram);
+	show_val_kb(m, "MemTotal:       ", i.totalram) this does not compile;
 	show_val_kb(m, "MemFree:        ", i.freeram);
 	show_val_kb(m, "MemAvailable:   ", available);
 	show_val_kb(m, "Buffers:        ", i.bufferram);
`
)

// TestRealKernel runs the real-kernel path on linux-source-6.1 (a
// read-only tree) against the installed Debian kernel: a refusal, a
// one-file patch and a header patch to their modules, a failed build;
// the source tree stays identical (contents, modes, modification times).
func TestRealKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernel objects (minutes cold)")
	}
	src := testutil.LinuxSource(t)
	cache := testutil.CacheDir(t)
	before := testutil.TreeDigest(t, src)
	dir := t.TempDir()
	write := func(name, text string) string { return writeIn(t, dir, name, text) }
	config := testutil.DebianKernel(t).Config
	firstRun := true // until a run checks the prepared tree: the cache may hold what another test left
	run := func(patch string, vmlinux string) (*pipeline.Result, error, time.Duration) {
		start := time.Now()
		checked := false
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Config: config, Vmlinux: vmlinux,
			Patches: []string{patch}, OutputDir: filepath.Join(dir, "out"), CacheDir: cache, Jobs: 2, KeepWork: true,
			Log: func(f string, a ...any) {
				line := fmt.Sprintf(f, a...)
				t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), line)
				// Every run, a failed or refused one too, leaves
				// the prepared tree as prepared.
				if strings.Contains(line, "differs from the source tree") && !firstRun {
					t.Errorf("an earlier run left the prepared tree changed: %s", line)
				}
				if strings.Contains(line, "the prepared tree") || strings.Contains(line, "preparing the tree") {
					checked = true
				}
			}})
		if checked {
			firstRun = false
		}
		return res, err, time.Since(start)
	}
	meminfo := write("meminfo.patch", testutil.LinuxMeminfoPatch)

	t.Run("refuse-without-vmlinux", func(t *testing.T) {
		_, err, _ := run(meminfo, "")
		var pe *pipeline.Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Hint, "/usr/lib/debug/boot/vmlinux-") || !strings.Contains(pe.Hint, "-dbg") {
			t.Fatalf("got %v, want a refusal naming the -dbg vmlinux", err)
		}
	})
	t.Run("one-file", func(t *testing.T) {
		res, err, d := run(meminfo, testutil.DebianKernel(t).Vmlinux)
		t.Logf("one-file patch: %v", d)
		if res != nil && len(res.DiffObjects) > 0 {
			defer os.RemoveAll(filepath.Dir(filepath.Dir(res.DiffObjects[0])))
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DiffObjects) != 1 || !strings.HasSuffix(res.DiffObjects[0], "fs__proc__meminfo.o") {
			t.Errorf("diff objects %v, want fs/proc/meminfo.o's", res.DiffObjects)
		}
		if _, err := os.Stat(res.Module); err != nil {
			t.Error(err)
		}
	})
	t.Run("header", func(t *testing.T) {
		res, err, d := run(write("count-zeros.patch", realHeaderPatch), testutil.DebianKernel(t).Vmlinux)
		n := 0
		if res != nil {
			n = len(res.Report.Objects)
			if len(res.DiffObjects) > 0 {
				defer os.RemoveAll(filepath.Dir(filepath.Dir(res.DiffObjects[0])))
			}
		}
		t.Logf("header patch: %v, %d objects diffed, %d changed", d, n, len(res.DiffObjects))
		if err != nil {
			t.Fatal(err)
		}
		// The objects chosen are those whose debug info has an instance
		// of the changed static inline, each said so in the report.
		if n == 0 || len(res.DiffObjects) == 0 || n != len(res.Report.Chosen) {
			t.Errorf("%d objects diffed, %d changed, %d chosen: want some of each, one chosen per diffed", n, len(res.DiffObjects), len(res.Report.Chosen))
		}
		for _, c := range res.Report.Chosen {
			if c.File != "include/linux/count_zeros.h" || !strings.Contains(c.Entity, "count_leading_zeros") || !strings.Contains(c.Why, "instance") {
				t.Errorf("chosen %+v: want the instances of count_leading_zeros in count_zeros.h", c)
			}
		}
	})
	t.Run("rename-refused", func(t *testing.T) {
		rename := "diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo2.c\nsimilarity index 99%\nrename from fs/proc/meminfo.c\nrename to fs/proc/meminfo2.c\n" +
			strings.Replace(strings.Replace(testutil.LinuxMeminfoPatch, "+++ b/fs/proc/meminfo.c", "+++ b/fs/proc/meminfo2.c", 1), "MemTotal (kpatched)", "MemTotal (renamed)", 1)
		_, err, _ := run(write("rename.patch", rename), testutil.DebianKernel(t).Vmlinux)
		var pe *pipeline.Error
		if !errors.As(err, &pe) || pe.Key != refusal.RealRename || !strings.Contains(err.Error(), "rename.patch:1: renames fs/proc/meminfo.c to fs/proc/meminfo2.c") {
			t.Fatalf("got %v, want the rename refusal naming the patch, line and file", err)
		}
	})
	t.Run("failed-build", func(t *testing.T) {
		_, err, _ := run(write("broken.patch", realBrokenPatch), testutil.DebianKernel(t).Vmlinux)
		var re *refusal.Error
		if err == nil || !errors.As(err, &re) || re.Key != refusal.PatchedBuild {
			t.Fatalf("got %v, want the patched build's failure (%s)", err, refusal.PatchedBuild)
		}
		// The compiler's first error comes first, then where the whole
		// output is.
		first, _, _ := strings.Cut(err.Error(), "\n")
		if !strings.HasPrefix(first, "patched build: fs/proc/meminfo.c:58:") || !strings.Contains(first, ": error: ") {
			t.Errorf("first line %q, want the compiler's first error", first)
		}
		var me *kbuild.MakeError
		if !errors.As(err, &me) || me.Log == "" {
			t.Fatalf("no log named: %v", err)
		}
		if b, rerr := os.ReadFile(me.Log); rerr != nil || !strings.Contains(string(b), "this does not compile") {
			t.Errorf("log %s: %v", me.Log, rerr)
		}
	})
	t.Run("sigkill", func(t *testing.T) {
		// Killed while the patch is applied and objects build, while the
		// objects are diffed, while the module builds: the next run
		// undoes what the killed one left and succeeds.
		for _, point := range []string{"applying meminfo.patch", "diffing 1 object", "building patch module"} {
			killAt(t, meminfo, point)
		}
		res, err, d := run(meminfo, testutil.DebianKernel(t).Vmlinux)
		if err != nil {
			t.Fatalf("after the kills: %v", err)
		}
		t.Logf("run after the kills: %v", d)
		os.RemoveAll(filepath.Dir(filepath.Dir(res.DiffObjects[0])))
	})
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree %s changed", src)
	}
}

// killAt runs the one-file patch in a child process (TestRealKernelChild)
// and kills it (SIGKILL) once it logs point.
func killAt(t *testing.T, patch, point string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealKernelChild$")
	cmd.Env = append(os.Environ(), "KPATCH_REAL_CHILD="+patch)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), point) {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if !killed {
		t.Errorf("the child never logged %q", point)
	} else {
		t.Logf("killed at %q", point)
	}
}

// TestRealKernelChild is the child process of killAt.
func TestRealKernelChild(t *testing.T) {
	patch := os.Getenv("KPATCH_REAL_CHILD")
	if patch == "" {
		t.Skip("child process of TestRealKernel")
	}
	out := t.TempDir()
	_, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: testutil.LinuxSource(t),
		Config: testutil.DebianKernel(t).Config, Vmlinux: testutil.DebianKernel(t).Vmlinux,
		Patches: []string{patch}, OutputDir: out, CacheDir: testutil.CacheDir(t), Jobs: 2,
		Log: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRealReproducible builds one patch twice, in the tests' shared cache
// and in a new one elsewhere (its own prepared tree, index and work
// directories), and wants the same module bytes: no path of a cache or a
// run may reach the module (its debug info, its build-id). Then twice
// more in the shared cache, named by a relative path and again by its
// absolute one: the same bytes, and neither run prepares the tree again
// (a relative name once reached kbuild's records, and the next run found
// the preparation's files rebuilt).
func TestRealReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("prepares a second tree (a minute or two)")
	}
	k := testutil.DebianKernel(t)
	src := testutil.LinuxSource(t)
	dir := t.TempDir()
	patch := filepath.Join(dir, "meminfo.patch")
	if err := os.WriteFile(patch, []byte(testutil.LinuxMeminfoPatch), 0o644); err != nil {
		t.Fatal(err)
	}
	shared := testutil.CacheDir(t)
	t.Chdir(filepath.Dir(shared))
	var sums []string
	for i, cache := range []string{shared, filepath.Join(dir, "cache2"), filepath.Base(shared), shared} {
		start := time.Now()
		var lines []string
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Config: k.Config, Vmlinux: k.Vmlinux,
			Patches: []string{patch}, OutputDir: filepath.Join(dir, fmt.Sprint("out", i)), CacheDir: cache, Jobs: 2,
			Log: func(f string, a ...any) {
				lines = append(lines, fmt.Sprintf(f, a...))
				t.Logf("[%d %5.1fs] %s", i, time.Since(start).Seconds(), fmt.Sprintf(f, a...))
			}})
		if err != nil {
			t.Fatalf("build in %s: %v", cache, err)
		}
		if i >= 2 {
			for _, l := range lines {
				if strings.Contains(l, "preparing") {
					t.Errorf("build %d (cache %s) prepared the tree again: %s", i, cache, l)
				}
			}
		}
		b, err := os.ReadFile(res.Module)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), cache) {
			t.Errorf("the module names its cache %s", cache)
		}
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(b)))
	}
	for i := 1; i < len(sums); i++ {
		if sums[i] != sums[0] {
			t.Errorf("build %d: sha256 %s, build 0's %s", i, sums[i], sums[0])
		}
	}
}

// TestRealProof: the original objects must be the running kernel's. A
// copy of linux-source-6.1 whose loadavg_proc_show returns 1 (outside the
// patch's hunk) is refused, naming the object and the function, and no
// module is written; a configuration with one option changed is refused
// when the option changes the compiled object, accepted when it does not.
// Each case prepares its own tree (about a minute each, cached).
func TestRealProof(t *testing.T) {
	if testing.Short() {
		t.Skip("prepares three trees (minutes cold)")
	}
	k := testutil.DebianKernel(t)
	src := testutil.LinuxSource(t)
	cache := testutil.CacheDir(t)
	dir := t.TempDir()
	write := func(name, text string) string { return writeIn(t, dir, name, text) }
	var logs []string
	run := func(t *testing.T, tree, config, patch string) (*pipeline.Result, error, string) {
		out := filepath.Join(t.TempDir(), "out")
		start := time.Now()
		logs = nil
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: tree, Config: config, Vmlinux: k.Vmlinux,
			Patches: []string{patch}, OutputDir: out, CacheDir: cache, Jobs: 2,
			Log: func(f string, a ...any) {
				logs = append(logs, fmt.Sprintf(f, a...))
				t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(f, a...))
			}})
		return res, err, out
	}
	warned := func(t *testing.T, option string) {
		t.Helper()
		for _, l := range logs {
			if strings.Contains(l, "differs from the running kernel's configuration") && strings.Contains(l, option) {
				return
			}
		}
		t.Errorf("no warning names %s as differing from the running kernel's configuration", option)
	}
	refused := func(t *testing.T, err error, out string, want ...string) {
		t.Helper()
		var pe *pipeline.Error
		if !errors.As(err, &pe) || pe.Key != refusal.KernelMismatch {
			t.Fatalf("err = %v, want a kernel-mismatch refusal", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("refusal %q lacks %q", err, w)
			}
		}
		if !strings.Contains(pe.Hint, "linux-source") {
			t.Errorf("hint %q does not say how to get the matching source", pe.Hint)
		}
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			t.Errorf("output written: %v", entries)
		}
	}

	t.Run("altered-tree", func(t *testing.T) {
		alt := filepath.Join(dir, "linux")
		if out, err := exec.Command("cp", "-al", src, alt).CombinedOutput(); err != nil {
			t.Fatalf("cp -al: %v\n%s", err, out)
		}
		f := filepath.Join(alt, "fs/proc/loadavg.c")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(f)
		i := strings.Index(string(b), "\treturn 0;\n}\n\nstatic int __init proc_loadavg_init")
		if i < 0 {
			t.Fatal("fs/proc/loadavg.c: loadavg_proc_show's return not found")
		}
		altered := string(b[:i]) + "\treturn 1;" + string(b[i+len("\treturn 0;"):])
		os.Chmod(filepath.Dir(f), 0o755)
		os.Remove(f) // a link to the extracted tree's file
		if err := os.WriteFile(f, []byte(altered), 0o644); err != nil {
			t.Fatal(err)
		}
		// A fixed time: the prepared tree of this copy is cached between runs.
		os.Chtimes(f, info.ModTime().Add(time.Second), info.ModTime().Add(time.Second))
		patch := write("loadavg.patch", `--- a/fs/proc/loadavg.c
+++ b/fs/proc/loadavg.c
@@ -17,7 +17,7 @@ static int loadavg_proc_show(struct seq_file *m, void *v)
 
 	get_avenrun(avnrun, FIXED_1/200, 0);
 
-	seq_printf(m, "%lu.%02lu %lu.%02lu %lu.%02lu %u/%d %d\n",
+	seq_printf(m, "%lu.%02lu %lu.%02lu %lu.%02lu %u/%d %d (kpatched)\n",
 		LOAD_INT(avnrun[0]), LOAD_FRAC(avnrun[0]),
 		LOAD_INT(avnrun[1]), LOAD_FRAC(avnrun[1]),
 		LOAD_INT(avnrun[2]), LOAD_FRAC(avnrun[2]),
`)
		_, err, out := run(t, alt, k.Config, patch)
		refused(t, err, out, "fs/proc/loadavg.o: function loadavg_proc_show is not the running kernel's (in vmlinux: first difference at offset 0x", "the source tree is not the running kernel's")
		// --skip-proof builds it anyway, and says so.
		outSkip := filepath.Join(t.TempDir(), "out")
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: alt, Config: k.Config, Vmlinux: k.Vmlinux,
			Patches: []string{patch}, OutputDir: outSkip, CacheDir: cache, Jobs: 2, SkipProof: true,
			Log: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
		if err != nil {
			t.Fatalf("--skip-proof: %v", err)
		}
		if len(res.Report.Proof) != 0 {
			t.Errorf("--skip-proof: the report has a proof: %+v", res.Report.Proof)
		}
		warnedSkip := false
		for _, l := range logs {
			warnedSkip = warnedSkip || strings.HasPrefix(l, "WARNING: --skip-proof")
		}
		if !warnedSkip {
			t.Errorf("--skip-proof built without its warning")
		}
		// The honest tree builds the same patch.
		if _, err, _ := run(t, src, k.Config, patch); err != nil {
			t.Errorf("the running kernel's own tree: %v", err)
		}
		for _, l := range logs {
			if strings.Contains(l, "differs from the running kernel's configuration") {
				t.Errorf("the kernel's own configuration warned: %s", l)
			}
		}
	})

	cfg, err := os.ReadFile(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	meminfo := write("meminfo.patch", testutil.LinuxMeminfoPatch)
	t.Run("config-alters-object", func(t *testing.T) {
		if !strings.Contains(string(cfg), "\nCONFIG_MEMORY_FAILURE=y\n") {
			t.Skip("the kernel's configuration has no CONFIG_MEMORY_FAILURE=y")
		}
		c := write("memory-failure.config", strings.Replace(string(cfg), "\nCONFIG_MEMORY_FAILURE=y\n", "\n# CONFIG_MEMORY_FAILURE is not set\n", 1))
		_, err, out := run(t, src, c, meminfo)
		refused(t, err, out, "fs/proc/meminfo.o: function meminfo_proc_show is not the running kernel's (in vmlinux: ")
		warned(t, "CONFIG_MEMORY_FAILURE y -> n")
	})
	t.Run("config-alters-nothing", func(t *testing.T) {
		if !strings.Contains(string(cfg), "\nCONFIG_JOYSTICK_XPAD=m\n") {
			t.Skip("the kernel's configuration has no CONFIG_JOYSTICK_XPAD=m")
		}
		c := write("xpad.config", strings.Replace(string(cfg), "\nCONFIG_JOYSTICK_XPAD=m\n", "\n# CONFIG_JOYSTICK_XPAD is not set\n", 1))
		res, err, _ := run(t, src, c, meminfo)
		if err != nil {
			t.Fatalf("a configuration change that alters no compiled object: %v", err)
		}
		if len(res.Report.Proof) != 1 || res.Report.Proof[0].Proven == 0 {
			t.Errorf("proof report %+v, want meminfo.o's functions proven", res.Report.Proof)
		}
		warned(t, "CONFIG_JOYSTICK_XPAD m -> n")
	})
}

// writeIn writes text to the file name in dir and returns its path.
func writeIn(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
