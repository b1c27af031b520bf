package guest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

var (
	testPatchOnce sync.Once
	testPatchErr  error
	testPatchDir  string
)

// testPatchNames are the livepatches in testdata/livepatch.
var testPatchNames = []string{"guest_lp_cmdline", "guest_lp_xfs"}

// TestMain removes the kbuild directory of the test livepatch. Run as
// a helper (helperEnv set), the test binary is a run with a hung guest
// instead (runHungGuest).
func TestMain(m *testing.M) {
	if rel := os.Getenv(helperEnv); rel != "" {
		runHungGuest(rel)
	}
	code := m.Run()
	if testPatchDir != "" {
		os.RemoveAll(testPatchDir)
	}
	os.Exit(code)
}

// testPatch builds the livepatches of testdata/livepatch with kbuild
// against the installed headers, once per test binary, and returns the
// path of the module name.
func testPatch(t *testing.T, name string) string {
	t.Helper()
	kdir := filepath.Join("/lib/modules", testRelease(t), "build")
	if _, err := os.Stat(filepath.Join(kdir, "Makefile")); err != nil {
		absent(t, kdir+" missing (install linux-headers-"+testRelease(t)+")")
	}
	if _, err := exec.LookPath("make"); err != nil {
		absent(t, "make not installed")
	}
	testPatchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "guest-lp-")
		if err != nil {
			testPatchErr = err
			return
		}
		testPatchDir = dir
		kbuild := "obj-m :="
		for _, n := range testPatchNames {
			src, err := os.ReadFile(filepath.Join("testdata/livepatch", n+".c"))
			if err != nil {
				testPatchErr = err
				return
			}
			if testPatchErr = os.WriteFile(filepath.Join(dir, n+".c"), src, 0o644); testPatchErr != nil {
				return
			}
			kbuild += " " + n + ".o"
		}
		if testPatchErr = os.WriteFile(filepath.Join(dir, "Kbuild"), []byte(kbuild+"\n"), 0o644); testPatchErr != nil {
			return
		}
		cmd := exec.Command("make", "-C", kdir, "M="+dir, "-j2", "modules")
		out, err := cmd.CombinedOutput()
		if err != nil {
			testPatchErr = errors.New("kbuild of the test livepatch failed: " + err.Error() + "\n" + string(out))
			return
		}
	})
	if testPatchErr != nil {
		t.Fatal(testPatchErr)
	}
	return filepath.Join(testPatchDir, name+".ko")
}

// cmdlineCheck is the test patch's visible change.
var cmdlineCheck = Check{
	Command:   "cat /proc/cmdline",
	Unpatched: `console=ttyS0 panic=-1`,
	Patched:   `^guest livepatch test: cmdline replaced$`,
}

// TestVerifyCmdlinePatch runs the whole flow with a real livepatch: a
// check that changes and one that must not.
func TestVerifyCmdlinePatch(t *testing.T) {
	o := needKernel(t)
	v := Verify{Module: testPatch(t, "guest_lp_cmdline"), Checks: []Check{
		cmdlineCheck,
		{Command: "uname -r", Unpatched: "^" + testRelease(t) + "$", Patched: "^" + testRelease(t) + "$"},
	}}
	res, err := VerifyPatch(context.Background(), o, v)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot and verification: %.1fs", res.Elapsed.Seconds())
	testutil.Golden(t, "testdata/verify-cmdline.golden", testutil.NormalizeKernel(res.Summary, o.Release))
}

// TestVerifyFailingCheckShowsConsole expects a wrong Patched regexp to
// fail the verification with the check's output and the console.
func TestVerifyFailingCheckShowsConsole(t *testing.T) {
	o := needKernel(t)
	v := Verify{Module: testPatch(t, "guest_lp_cmdline"), Checks: []Check{
		{Command: "cat /proc/cmdline", Unpatched: `console=ttyS0`, Patched: `this text is never printed`},
	}}
	res, err := VerifyPatch(context.Background(), o, v)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want *Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"patched: check 1: output does not match /this text is never printed/",
		"| guest livepatch test: cmdline replaced",
		"--- guest console (last",
		"unload guest_lp_cmdline: ok", // not in the console: must not be here
	} {
		if strings.Contains(msg, want) != (want != "unload guest_lp_cmdline: ok") {
			t.Errorf("error message and %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(ge.Console, "guest livepatch test: cmdline replaced") {
		t.Errorf("Console lacks the patched output:\n%s", ge.Console)
	}
	testutil.Golden(t, "testdata/verify-failing.golden", testutil.NormalizeKernel(res.Summary, o.Release))
}

// TestVerifyModuleTarget patches a function of a distribution module
// (xfs, loaded with its dependencies) loaded before the patch and after
// it.
func TestVerifyModuleTarget(t *testing.T) {
	o := needKernel(t)
	checks := []Check{
		{Command: "grep -c '^xfs ' /proc/modules", Unpatched: `^1$`, Patched: `^1$`},
		{Command: "grep -w xfs /proc/filesystems", Unpatched: `\bxfs\b`, Patched: `\bxfs\b`},
		{Command: "cat /proc/fs/xfs/xqm", Unpatched: `^0\t\d+\t0\t\d+$`, Patched: `^guest livepatch test: xqm replaced$`},
	}
	for _, late := range []bool{false, true} {
		name := "early"
		if late {
			name = "late"
		}
		t.Run(name, func(t *testing.T) {
			v := Verify{Module: testPatch(t, "guest_lp_xfs"), Preload: []string{"xfs"}, Checks: checks, LateLoad: late}
			res, err := VerifyPatch(context.Background(), o, v)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("boot and verification: %.1fs", res.Elapsed.Seconds())
			testutil.Golden(t, "testdata/verify-xfs-"+name+".golden", testutil.NormalizeKernel(res.Summary, o.Release))
		})
	}
}

// TestVerifyIndistinctChecks: checks of files the patch does not change
// (here kernel.ostype, beside a patch of /proc/cmdline) pass in every
// phase but cannot tell the patch from no patch: measured before the
// patch is loaded, they fail the verification, and only for that.
func TestVerifyIndistinctChecks(t *testing.T) {
	o := needKernel(t)
	v := Verify{Module: testPatch(t, "guest_lp_cmdline"), Checks: []Check{
		{Command: "cat /proc/sys/kernel/ostype", Unpatched: `^Linux$`, Patched: `Linux`},
		{Command: "uname -r", Unpatched: "^" + testRelease(t) + "$", Patched: "^" + testRelease(t) + "$"},
	}}
	res, err := VerifyPatch(context.Background(), o, v)
	var ge *Error
	if !errors.As(err, &ge) || ge.Indistinct == "" || len(ge.Problems) != 1 {
		t.Fatalf("err = %v, want only the checks' indistinctness", err)
	}
	if len(res.Distinct) != 0 {
		t.Errorf("Distinct = %v, want none", res.Distinct)
	}
	testutil.Golden(t, "testdata/verify-indistinct.golden", testutil.NormalizeKernel(res.Summary, o.Release))
}
