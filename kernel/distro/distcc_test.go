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

// TestDistccHosts: the helpers' list comes from where distcc reads it,
// in distcc's order, comments left out, and none is said with what was
// looked at.
func TestDistccHosts(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "etc-hosts")
	user := filepath.Join(dir, "user")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	check := func(name, wantHosts, wantFrom string) {
		t.Helper()
		hosts, from := distccHosts(getenv, sys)
		if hosts != wantHosts || from != wantFrom {
			t.Errorf("%s: %q from %q, want %q from %q", name, hosts, from, wantHosts, wantFrom)
		}
	}
	check("nothing", "", "DISTCC_HOSTS unset, "+filepath.Join(sys)+" absent")
	env["HOME"] = dir
	check("no files", "", "DISTCC_HOSTS unset, "+filepath.Join(dir, ".distcc", "hosts")+" absent, "+sys+" absent")
	write(sys, "# the system's helpers\n127.0.0.1  # loopback\n")
	check("system file", "127.0.0.1", sys)
	env["DISTCC_DIR"] = user
	write(filepath.Join(user, "hosts"), "# none yet\n\n")
	check("empty user file", "", filepath.Join(user, "hosts")+" lists none")
	write(filepath.Join(user, "hosts"), "a/4,lzo b/2\n# c\n  d\n")
	check("user file", "a/4,lzo b/2 d", filepath.Join(user, "hosts"))
	env["DISTCC_HOSTS"] = " 127.0.0.1:3632/2 "
	check("environment", "127.0.0.1:3632/2", "DISTCC_HOSTS")
}
