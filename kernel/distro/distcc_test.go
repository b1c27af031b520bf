package distro

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestDistccScript: the script prints the compiler's own version text
// (kbuild's configuration records it) and sends a compile through
// distcc, which DISTCC_HOSTS pointing nowhere with DISTCC_FALLBACK=0
// makes fail.
func TestDistccScript(t *testing.T) {
	distcc := testutil.NeedTool(t, "distcc")
	cc := testutil.NeedTool(t, "gcc")
	dir := t.TempDir()
	script := filepath.Join(dir, "gcc")
	if err := os.WriteFile(script, []byte(distccScript(distcc, "gcc", os.Getenv("PATH"))), 0o755); err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command(cc, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(script, "--version").Output()
	if err != nil || string(got) != string(want) {
		t.Errorf("--version: %q (%v), want %q", got, err, want)
	}
	src := filepath.Join(dir, "a.c")
	os.WriteFile(src, []byte("int f(int x) { return x * 3; }\n"), 0o644)
	c := exec.Command(script, "-O2", "-c", src, "-o", filepath.Join(dir, "a.o"))
	c.Env = append(os.Environ(), "DISTCC_HOSTS=127.0.0.1:1/1", "DISTCC_FALLBACK=0", "DISTCC_DIR="+dir)
	out, err := c.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "distcc") {
		t.Errorf("a compile with no helper reachable and no fallback: %v, want distcc's failure:\n%s", err, out)
	}
}
