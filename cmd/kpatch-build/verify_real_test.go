package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestVerifyRealLifecycle runs --verify on a real kernel the ways it can
// end, with proc-devices-text.patch under other names and checks:
//   - SIGINT and SIGTERM while the guest boots: exit 130 and 143, one
//     line, no qemu left, no module, no guest directory in $TMPDIR;
//   - SIGKILL while the guest boots: qemu ends within seconds (its
//     parent-death signal), the module stays NAME.ko.unverified, and the
//     next run sweeps the guest directory left behind;
//   - no .expect: VERIFIED says that there were no behaviour checks;
//   - checks whose patched regexp the output without the patch matches
//     too: refused once measured in the guest, the module kept as
//     NAME.ko.unverified and no NAME.ko.
//
// The outputs of the last two are golden.
func TestVerifyRealLifecycle(t *testing.T) {
	src, k, bin := needRealVerify(t)
	cache := testutil.CacheDir(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	patch := func(name, expect string) string {
		return patchWithExpect(t, dir, filepath.Join("testdata", "realpatches", "proc-devices-text.patch"), name, expect)
	}
	// start runs the binary with TMPDIR=tmp; at sees each stderr line.
	start := func(p, out string, at func(cmd *exec.Cmd, line string) bool) func() buildRun {
		t.Setenv("TMPDIR", tmp)
		return startBuild(t, bin, []string{"-s", src, "-c", k.Config, "-v", k.Vmlinux, "--cachedir", cache,
			"-o", out, "--verify", p}, at)
	}
	// atBoot calls do with the run and its qemu once the guest boots.
	atBoot := func(do func(cmd *exec.Cmd, qemu []int)) func(*exec.Cmd, string) bool {
		return func(cmd *exec.Cmd, line string) bool {
			if !strings.Contains(line, "guest: booting") {
				return false
			}
			var qemu []int
			if !testutil.WaitFor(10*time.Second, func() bool {
				qemu = testutil.Children(cmd.Process.Pid, "qemu-system")
				return len(qemu) > 0
			}) {
				t.Errorf("no qemu 10s after %q", line)
			}
			time.Sleep(time.Second)
			do(cmd, qemu)
			return true
		}
	}
	files := func(d string) []string {
		var names []string
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	noQemu := func(what string, qemu []int, within time.Duration) {
		t.Helper()
		for _, q := range qemu {
			if !testutil.WaitFor(within, func() bool { return !testutil.Alive(q) }) {
				syscall.Kill(q, syscall.SIGKILL)
				t.Errorf("%s: qemu (pid %d) still runs %s later", what, q, within)
			}
		}
	}
	p := patch("lifecycle", "")

	for _, c := range []struct {
		sig  syscall.Signal
		code int
		msg  string
	}{
		{syscall.SIGINT, 130, "kpatch-build: interrupted by SIGINT"},
		{syscall.SIGTERM, 143, "kpatch-build: interrupted by SIGTERM"},
	} {
		out := filepath.Join(dir, "out-"+c.sig.String())
		var qemu []int
		r := start(p, out, atBoot(func(cmd *exec.Cmd, q []int) {
			qemu = q
			cmd.Process.Signal(c.sig)
		}))()
		if qemu == nil {
			t.Fatalf("%v: the guest never booted:\n%s", c.sig, r.stderr)
		}
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.sig, r.code, c.code, r.stderr)
		}
		if m := r.messages(); len(m) != 1 || m[0] != c.msg {
			t.Errorf("%v: want the one line %q, got:\n%s", c.sig, c.msg, r.stderr)
		}
		noQemu(c.sig.String(), qemu, 0)
		if f := files(out); len(f) != 0 {
			t.Errorf("%v: the output directory holds %v", c.sig, f)
		}
		if f := files(tmp); len(f) != 0 {
			t.Errorf("%v: TMPDIR holds %v", c.sig, f)
		}
	}

	// SIGKILL: nothing of the run can clean up; qemu dies with it.
	out := filepath.Join(dir, "out-kill")
	var qemu []int
	var killed time.Time
	start(p, out, atBoot(func(cmd *exec.Cmd, q []int) {
		qemu = q
		killed = time.Now()
		cmd.Process.Signal(syscall.SIGKILL)
	}))()
	noQemu("SIGKILL", qemu, 5*time.Second)
	t.Logf("qemu ended within %.2fs of SIGKILL", time.Since(killed).Seconds())
	if f := files(out); !slices.Equal(f, []string{"livepatch-lifecycle.ko.unverified"}) {
		t.Errorf("SIGKILL: the output directory holds %v, want only the unverified module", f)
	}
	left := files(tmp)
	if len(left) != 1 || !strings.HasPrefix(left[0], "kpatch-guest-") {
		t.Fatalf("SIGKILL left %v in TMPDIR, want its guest directory", left)
	}

	// No .expect: load, transition and unload are verified, and said to
	// be all; the run sweeps the killed run's guest directory.
	r := start(p, out, nil)()
	if r.code != 0 {
		t.Fatalf("no .expect: exit %d\n%s", r.code, r.stderr)
	}
	if want := "guest: removed what interrupted runs left in " + tmp + ": " + left[0]; !strings.Contains(r.stderr, want) {
		t.Errorf("the run after SIGKILL does not say %q:\n%s", want, r.stderr)
	}
	if f := files(out); !slices.Equal(f, []string{"livepatch-lifecycle.ko"}) {
		t.Errorf("no .expect: the output directory holds %v, want the verified module only", f)
	}
	stdout := r.stdout
	if !strings.HasSuffix(stdout, "\nVERIFIED (load, transition, unload; no behaviour checks)\n") {
		t.Errorf("no .expect: stdout does not end with what was verified:\n%s", stdout)
	}
	testutil.Golden(t, "testdata/verify-no-expect.golden", testutil.NormalizeKernel(stdout, k.Release))

	// A patched regexp that the output without the patch matches too:
	// the guest measures it, and the run is refused.
	out = filepath.Join(dir, "out-indistinct")
	r = start(patch("indistinct", "check head -1 /proc/devices\npatched devices\nunpatched ^Character devices:\n"), out, nil)()
	if r.code != 1 {
		t.Errorf("indistinct checks: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if f := files(out); !slices.Equal(f, []string{"livepatch-indistinct.ko.unverified"}) {
		t.Errorf("indistinct checks: the output directory holds %v, want only the unverified module", f)
	}
	if !strings.Contains(r.stderr, "not verified: the module is kept as "+filepath.Join(out, "livepatch-indistinct.ko.unverified")) {
		t.Errorf("the run does not say where the unverified module is:\n%s", r.stderr)
	}
	golden := strings.ReplaceAll(r.stdout+strings.Join(r.messages(), "\n")+"\n", dir, "DIR")
	testutil.Golden(t, "testdata/verify-indistinct.golden", testutil.NormalizeKernel(golden, k.Release))
}
