package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestVerifyChecks: --verify on the bundled kernel reads the checks of
// the NAME.expect beside the patch (the check language of
// livepatch.ParseCheck), prints which new bodies ran, and refuses when a
// check's text does not appear with the patch or a check or a key is
// malformed. The module is NAME.ko once verified, NAME.ko.unverified
// when not, and none when the checks are refused before the build.
func TestVerifyChecks(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "make")
	testutil.NeedTool(t, "ld")
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	patch := func(name, expect string) string {
		return patchWithExpect(t, root, filepath.Join("testdata", "patches", "user-copy.patch"), name, expect)
	}
	verify := func(p string) (int, string, string) {
		return runCapturedOut(t, []string{"--cachedir", cache, "-o", filepath.Join(root, "out-"+filepath.Base(p)), "--verify", p})
	}
	modules := func(p string) []string {
		kos, _ := filepath.Glob(filepath.Join(root, "out-"+filepath.Base(p), "*.ko*"))
		for i := range kos {
			kos[i] = filepath.Base(kos[i])
		}
		return kos
	}

	incr := patch("incr", "desc x\ncheck call 8 u32=41 => returned 43\n")
	code, out, msg := verify(incr)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, msg)
	}
	if m := modules(incr); !slices.Equal(m, []string{"livepatch-incr.ko"}) {
		t.Errorf("verified: modules %v, want livepatch-incr.ko", m)
	}
	for _, want := range []string{
		"sys_incr_user: body ran during the checks (1 entry)",
		"call 8 u32=41 changed:\n    - returned 42\n    + returned 43\n",
		`check call 8 u32=41: "returned 43" appears with the patch only`,
		"VERIFIED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	wrong := patch("incr-wrong", "check call 8 u32=41 => returned 44\n")
	code, out, msg = verify(wrong)
	if want := `verify: with the patch, call 8 u32=41 does not contain "returned 44"`; code != 1 || !strings.Contains(msg, want) {
		t.Errorf("exit %d, want 1 with %q:\n%s\n%s", code, want, out, msg)
	}
	if m := modules(wrong); !slices.Equal(m, []string{"livepatch-incr-wrong.ko.unverified"}) {
		t.Errorf("not verified: modules %v, want livepatch-incr-wrong.ko.unverified", m)
	}

	bad := patch("incr-bad", "desc x\ncheck call 8 u32=-1\n")
	code, out, msg = verify(bad)
	if want := "incr-bad.expect:2: check call 8: bad argument \"u32=-1\""; code != 1 || !strings.Contains(msg, want) {
		t.Errorf("exit %d, want 1 with %q:\n%s\n%s", code, want, out, msg)
	}
	// The checks are read before the build: nothing is built or written.
	if strings.Contains(msg, "SUCCESS") {
		t.Errorf("a malformed check was refused only after the build:\n%s", msg)
	}
	if m := modules(bad); len(m) != 0 {
		t.Errorf("a malformed check left modules behind: %v", m)
	}
	typo := patch("incr-typo", "desc x\nchek call 8 u32=41 => returned 43\n")
	code, out, msg = verify(typo)
	if want := "incr-typo.expect:2: unknown key \"chek\" (did you mean \"check\"?)"; code != 1 || !strings.Contains(msg, want) ||
		strings.Contains(msg, "SUCCESS") || len(modules(typo)) != 0 {
		t.Errorf("exit %d, want 1 with %q before the build:\n%s\n%s", code, want, out, msg)
	}
}

// TestVerifyExpectRefusedFirst: with --verify on a Linux tree, the
// checks beside the patches are read before anything runs; a misspelled
// key, bytes that are not text, or checks that expect the same output
// with and without the patch are refused with the file (and line), exit
// 1, and nothing is written: no cache, no module.
func TestVerifyExpectRefusedFirst(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "linux")
	for _, f := range []string{"Makefile", "Kbuild", "Kconfig", "scripts/Makefile.build"} {
		os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o755)
		os.WriteFile(filepath.Join(tree, f), nil, 0o644)
	}
	patch := func(name, expect string) string {
		return patchWithExpect(t, root, filepath.Join("testdata", "realpatches", "proc-devices-text.patch"), name, expect)
	}
	args := func(patches ...string) []string {
		return append([]string{"-s", tree, "-v", filepath.Join(root, "vmlinux"), "--cachedir", filepath.Join(root, "cache"),
			"-o", filepath.Join(root, "out"), "--verify"}, patches...)
	}
	good := patch("good", "check head -1 /proc/devices\npatched live patched\nunpatched ^Character devices:$\n")
	cases := []usageCase{
		{"misspelled key", args(patch("typo", "check head -1 /proc/devices\npatchd live patched\n")), 1,
			[]string{"typo.expect:2: unknown key \"patchd\" (did you mean \"patched\"?)", "hint: a PATCH.expect line is KEY VALUE"}},
		{"binary", args(patch("binary", "\x7fELF\x02\x01\x01\x00\x00\x00")), 1,
			[]string{"binary.expect:1: the line is not text (control character 0x7f at column 1)"}},
		{"same regexps", args(patch("same", "check head -1 /proc/devices\npatched devices\nunpatched devices\n")), 1,
			[]string{"verify: the checks cannot tell the patch from no patch: in " + filepath.Join(root, "same.expect") +
				", no check has a patched regexp other than its unpatched one", "hint: give at least one check"}},
		{"unpatched only", args(patch("unpatched-only", "check cat /proc/version\nunpatched Linux\n")), 1,
			[]string{"the checks cannot tell the patch from no patch"}},
	}
	checkUsage(t, root, cases)
	// A patch whose checks tell beside one whose checks do not is not
	// refused for that: the run goes on (and fails later, on the fake
	// tree).
	if code, msg := runCaptured(t, args(good, patch("same2", "check uname -r\npatched 6\nunpatched 6\n"))); code != 1 ||
		strings.Contains(msg, "cannot tell") || strings.Contains(msg, ".expect") {
		t.Errorf("checks that tell beside checks that do not: exit %d\n%s", code, msg)
	}
}

// patchWithExpect copies the repository's patch from (a path from the
// repository's root) to dir/NAME.patch, with expect as its NAME.expect
// (none when empty), and returns the patch's path.
func patchWithExpect(t *testing.T, dir, from, name, expect string) string {
	t.Helper()
	p := filepath.Join(dir, name+".patch")
	copyFileT(t, filepath.Join(testutil.RepoRoot(), from), p)
	if expect != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".expect"), []byte(expect), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}
