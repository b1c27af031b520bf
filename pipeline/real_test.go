package pipeline_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/build"
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
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := testutil.DebianKernel(t).Config
	run := func(patch string, vmlinux string) (*pipeline.Result, error, time.Duration) {
		start := time.Now()
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Config: config, Vmlinux: vmlinux,
			Patches: []string{patch}, OutputDir: filepath.Join(dir, "out"), CacheDir: cache, Jobs: 2, KeepWork: true,
			Log: func(f string, a ...any) { t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(f, a...)) }})
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
		if n < 6 {
			t.Errorf("%d objects diffed, want at least the 6 whose debug info names count_zeros.h", n)
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
		var me *build.MakeError
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
