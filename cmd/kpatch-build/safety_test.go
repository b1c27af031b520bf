package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kpatch-build")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSourceTreeUntouched runs kpatch-build on a tree in every way a run
// can end (success, a patch that does not apply, a build that fails, and
// SIGKILL at several points of the build) and checks the tree is
// byte-identical afterwards, and that an interrupted run leaves a cache
// the next run can use.
func TestSourceTreeUntouched(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernel several times")
	}
	tree := testutil.KernelTree(t)
	bin := buildBinary(t)
	cache := filepath.Join(t.TempDir(), "cache")
	out := t.TempDir()
	patches := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches")
	before := testutil.TreeDigest(t, tree)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.patch")
	os.WriteFile(bad, []byte("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,1 +1,1 @@\n-no such line\n+x\n"), 0o644)
	broken := filepath.Join(dir, "broken.patch")
	os.WriteFile(broken, []byte("--- a/fs/proc/cmdline.c\n+++ b/fs/proc/cmdline.c\n@@ -1,0 +1,1 @@\n+this is not C;\n"), 0o644)

	run := func(patch string) (int, string) {
		cmd := exec.Command(bin, "-s", tree, "--cachedir", cache, "-o", out, patch)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), buf.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, buf.String()
	}
	check := func(what string) {
		t.Helper()
		if after := testutil.TreeDigest(t, tree); after != before {
			t.Fatalf("%s: the source tree changed", what)
		}
	}
	// SIGKILL in every phase of the build: when its progress line appears,
	// and a moment later.
	phases := []string{"building the running kernel", "building the original tree", "applying", "building the patched tree", "diffing", "building patch module"}
	for i, phase := range phases {
		for _, delay := range []time.Duration{0, 200 * time.Millisecond} {
			if i == 0 && delay == 0 {
				continue
			}
			cmd := exec.Command(bin, "-s", tree, "--cachedir", cache, "-o", out, filepath.Join(patches, "meminfo-string.patch"))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			seen := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), phase) {
					seen = true
					time.Sleep(delay)
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					break
				}
			}
			io.Copy(io.Discard, stderr)
			cmd.Wait()
			// Later phases only run once earlier ones are cached.
			if !seen && i > 1 {
				t.Logf("phase %q not reached (the run ended first)", phase)
			}
			check(fmt.Sprintf("SIGKILL %v into %q", delay, phase))
			os.Remove(filepath.Join(out, "livepatch-meminfo-string.ko"))
		}
	}
	if code, log := run(filepath.Join(patches, "meminfo-string.patch")); code != 0 {
		t.Fatalf("normal run after interrupted ones: exit %d\n%s", code, log)
	}
	check("normal run")
	if code, log := run(bad); code == 0 || !bytes.Contains([]byte(log), []byte("hunk #1")) {
		t.Errorf("patch that does not apply: exit %d\n%s", code, log)
	}
	check("patch that does not apply")
	if code, log := run(broken); code == 0 || !bytes.Contains([]byte(log), []byte("cmdline.c")) {
		t.Errorf("build that fails: exit %d\n%s", code, log)
	}
	check("build that fails")
}

// TestReproducibleModule builds the same patch twice and compares bytes.
func TestReproducibleModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernel")
	}
	tree := testutil.KernelTree(t)
	bin := buildBinary(t)
	patch := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches", "cmdline-string.patch")
	var mods [][]byte
	cache := filepath.Join(t.TempDir(), "cache")
	for i := 0; i < 2; i++ {
		out := t.TempDir()
		cmd := exec.Command(bin, "-s", tree, "--cachedir", cache, "-o", out, patch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		b, err := os.ReadFile(filepath.Join(out, "livepatch-cmdline-string.ko"))
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, b)
	}
	if !bytes.Equal(mods[0], mods[1]) {
		t.Errorf("two builds of the same patch differ")
	}
}

// leftovers lists what runs left in the cache: temporary and work
// directories.
func leftovers(t *testing.T, cache string) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp-") || strings.HasPrefix(e.Name(), "work-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// processesIn lists the processes whose command line mentions dir or
// whose working directory is in it (a make or compiler still working
// there).
func processesIn(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if !bytes.Contains(b, []byte(dir)) && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
				continue // a zombie works no more
			}
		}
		out = append(out, e.Name()+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
	}
	return out
}

// buildRun is one finished run of the binary.
type buildRun struct {
	code           int
	stdout, stderr string
}

// messages returns the lines of stderr that are not progress lines.
func (r buildRun) messages() []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "[") {
			out = append(out, l)
		}
	}
	return out
}

// startBuild starts the binary; at is called with each line of its
// standard error until it returns true; wait returns the run, with its
// standard output and error.
func startBuild(t *testing.T, bin string, args []string, at func(cmd *exec.Cmd, line string) bool) (wait func() buildRun) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		stopped := at == nil
		for sc.Scan() {
			buf.WriteString(sc.Text() + "\n")
			if !stopped {
				stopped = at(cmd, sc.Text())
			}
		}
	}()
	return func() buildRun {
		<-done
		err := cmd.Wait()
		r := buildRun{stdout: stdout.String(), stderr: buf.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// TestInterruptsAndLeftovers: SIGTERM and SIGINT during a build end it
// with 143 and 130 and one line, with no temporary or work directory
// left and no make or compiler still running; what a SIGKILLed run leaves
// in the cache, the next run removes, but never the directories of a live
// run sharing the cache or a work tree kept with -d. A report that cannot
// be written after the build does not leave the module behind, and a
// module whose name the kernel would refuse is not well formed.
func TestInterruptsAndLeftovers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernel several times")
	}
	tree := testutil.KernelTree(t)
	bin := buildBinary(t)
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	out := filepath.Join(root, "out")
	patch := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches", "meminfo-string.patch")
	args := func(extra ...string) []string {
		return append(append([]string{"-s", tree, "--cachedir", cache}, extra...), patch)
	}
	// signalAt sends sig to the run (not its process group: the run must
	// stop its own children) when phase starts, after a moment.
	signalAt := func(phase string, sig syscall.Signal, delay time.Duration) func(*exec.Cmd, string) bool {
		return func(cmd *exec.Cmd, line string) bool {
			if !strings.Contains(line, phase) {
				return false
			}
			time.Sleep(delay)
			cmd.Process.Signal(sig)
			return true
		}
	}
	noModule := func(dir string) {
		t.Helper()
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("%s holds %s", dir, entries[0].Name())
		}
	}

	for _, c := range []struct {
		sig   syscall.Signal
		phase string
		code  int
		msg   string
	}{
		{syscall.SIGTERM, "building the running kernel", 143, "kpatch-build: interrupted by SIGTERM"},
		{syscall.SIGINT, "building the running kernel", 130, "kpatch-build: interrupted by SIGINT"},
	} {
		r := startBuild(t, bin, args("-o", out), signalAt(c.phase, c.sig, 300*time.Millisecond))()
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.sig, r.code, c.code, r.stderr)
		}
		if m := r.messages(); len(m) != 1 || m[0] != c.msg {
			t.Errorf("%v: want the one line %q, got:\n%s", c.sig, c.msg, r.stderr)
		}
		if l := leftovers(t, cache); len(l) > 0 {
			t.Errorf("%v: left in the cache: %v", c.sig, l)
		}
		if p := processesIn(cache); len(p) > 0 {
			t.Errorf("%v: still running in the cache:\n%s", c.sig, strings.Join(p, "\n"))
		}
		noModule(out)
	}

	// SIGKILL (of the whole process group, as kill -9 of a job does)
	// leaves directories behind; the next run removes them.
	var left []string
	for _, phase := range []string{"building the running kernel", "applying"} {
		var pgid int
		r := startBuild(t, bin, args("-o", out), func(cmd *exec.Cmd, line string) bool {
			if !strings.Contains(line, phase) {
				return false
			}
			if phase != "applying" {
				// Inside the running kernel's build; the work
				// directory exists from "applying" on, and a warm
				// run may finish within 200 ms of it.
				time.Sleep(200 * time.Millisecond)
			}
			pgid = cmd.Process.Pid
			syscall.Kill(-pgid, syscall.SIGKILL)
			return true
		})()
		if pgid == 0 {
			t.Fatalf("the run ended before %q:\n%s", phase, r.stderr)
		}
		left = leftovers(t, cache)
		if len(left) == 0 {
			t.Fatalf("SIGKILL in %q left nothing in the cache: the sweep below proves nothing", phase)
		}
		if phase == "applying" {
			break
		}
		// A dead run's running-kernel copy: the next run's sweep takes
		// it; it then gets killed while applying.
	}
	noModule(out)
	r := startBuild(t, bin, args("-d", "-o", out), nil)()
	if r.code != 0 {
		t.Fatalf("run after SIGKILL: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "removed what interrupted runs left in the cache: "+strings.Join(left, " ")) {
		t.Errorf("the run after SIGKILL does not say it removed %v:\n%s", left, r.stderr)
	}
	_, kept, ok := strings.Cut(r.stderr, "kept the work tree: ")
	kept, _, _ = strings.Cut(kept, "\n")
	if !ok || !strings.HasPrefix(kept, filepath.Join(cache, "work-")) {
		t.Fatalf("-d does not say where the work tree is:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(kept, "tree", "fs", "proc", "meminfo.o")); err != nil {
		t.Errorf("the kept work tree lacks the patched object: %v", err)
	}
	if l := leftovers(t, cache); len(l) != 1 || filepath.Join(cache, l[0]) != kept {
		t.Errorf("after the -d run the cache holds %v, want only the kept %s", l, kept)
	}

	// Two runs at once on one cache: the second starts while the first
	// is building in its work directory, and must not sweep it (nor the
	// kept one).
	out2 := filepath.Join(root, "out2")
	var second func() buildRun
	first := startBuild(t, bin, args("-o", out), func(cmd *exec.Cmd, line string) bool {
		if !strings.Contains(line, "applying") {
			return false
		}
		second = startBuild(t, bin, args("-n", "livepatch-second_1", "-o", out2), nil)
		return true
	})
	r1 := first()
	if second == nil {
		t.Fatalf("the first run never applied its patch:\n%s", r1.stderr)
	}
	r2 := second()
	if r1.code != 0 || r2.code != 0 {
		t.Fatalf("concurrent runs: exit %d and %d\n%s\n%s", r1.code, r2.code, r1.stderr, r2.stderr)
	}
	if strings.Contains(r2.stderr, "removed what") {
		t.Errorf("the second run swept while the first was running:\n%s", r2.stderr)
	}
	if l := leftovers(t, cache); len(l) != 1 {
		t.Errorf("after two runs the cache holds %v, want only the kept work tree", l)
	}
	mod := filepath.Join(out, "livepatch-meminfo-string.ko")
	if _, err := os.Stat(filepath.Join(out2, "livepatch-second_1.ko")); err != nil {
		t.Errorf("-n livepatch-second_1: %v", err)
	}

	// inspect: the module is well formed; with a name the kernel would
	// refuse in its .modinfo, it is not.
	if code, msg := runCaptured(t, []string{"inspect", mod}); code != 0 {
		t.Errorf("inspect %s: exit %d\n%s", mod, code, msg)
	}
	b, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	good := []byte("name=livepatch_meminfo_string\x00")
	bad := []byte("name=../../escape\x00x=012345678\x00")
	if len(good) != len(bad) || bytes.Count(b, good) != 1 {
		t.Fatalf("module: %d copies of %q", bytes.Count(b, good), good)
	}
	badMod := filepath.Join(root, "escape.ko")
	os.WriteFile(badMod, bytes.Replace(b, good, bad, 1), 0o644)
	cmd := exec.Command(bin, "inspect", badMod)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("inspect of a module named ../../escape: %v, want exit 1", err)
	}
	if !strings.Contains(stdout.String(), `.modinfo name "../../escape": character '.' is not allowed`) ||
		!strings.Contains(stderr.String(), badMod+": malformed patch module") {
		t.Errorf("inspect of a module named ../../escape:\n%s%s", stdout.String(), stderr.String())
	}

	// A report that cannot be written once the module is built: exit 1
	// naming the user's path, and no module.
	os.Remove(mod)
	repDir := filepath.Join(root, "reports")
	os.Mkdir(repDir, 0o755)
	rep := filepath.Join(repDir, "r.json")
	r = startBuild(t, bin, args("-o", out, "--report", rep), func(_ *exec.Cmd, line string) bool {
		if !strings.Contains(line, "diffing") {
			return false
		}
		os.RemoveAll(repDir)
		return true
	})()
	want := "kpatch-build: --report " + rep + ": no such file or directory (the module livepatch-meminfo-string.ko was removed)"
	if m := r.messages(); r.code != 1 || len(m) != 1 || m[0] != want {
		t.Errorf("report that cannot be written: exit %d, want 1 and the one line %q:\n%s", r.code, want, r.stderr)
	}
	noModule(out)
	if l := leftovers(t, cache); len(l) != 1 {
		t.Errorf("after the failed report the cache holds %v", l)
	}
}
