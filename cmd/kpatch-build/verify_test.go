package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestVerifyChecks: --verify on the bundled kernel reads the checks of
// the NAME.expect beside the patch (the check language of
// livepatch.ParseCheck), prints which new bodies ran, and refuses when a
// check's text does not appear with the patch or a check is malformed.
func TestVerifyChecks(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "make")
	testutil.NeedTool(t, "ld")
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	patch := func(name, expect string) string {
		p := filepath.Join(root, name+".patch")
		copyFileT(t, filepath.Join(testutil.RepoRoot(), "testdata", "patches", "user-copy.patch"), p)
		if err := os.WriteFile(filepath.Join(root, name+".expect"), []byte(expect), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verify := func(p string) (int, string, string) {
		return runCapturedOut(t, []string{"--cachedir", cache, "-o", filepath.Join(root, "out-"+filepath.Base(p)), "--verify", p})
	}

	code, out, msg := verify(patch("incr", "desc x\ncheck call 8 u32=41 => returned 43\n"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, msg)
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

	code, out, msg = verify(patch("incr-wrong", "check call 8 u32=41 => returned 44\n"))
	if want := `verify: with the patch, call 8 u32=41 does not contain "returned 44"`; code != 1 || !strings.Contains(msg, want) {
		t.Errorf("exit %d, want 1 with %q:\n%s\n%s", code, want, out, msg)
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
	if kos, _ := filepath.Glob(filepath.Join(root, "out-"+filepath.Base(bad), "*.ko")); len(kos) != 0 {
		t.Errorf("a malformed check left modules behind: %v", kos)
	}
}
