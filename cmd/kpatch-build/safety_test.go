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
	patches := filepath.Join(testutil.RepoRoot(), "target", "kernel", "patches")
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
	patch := filepath.Join(testutil.RepoRoot(), "target", "kernel", "patches", "cmdline-string.patch")
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
