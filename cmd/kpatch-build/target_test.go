package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// runTargetCLI runs "kpatch-build ARGS..." in process and returns its
// standard output.
func runTargetCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	if !boot.HaveToolchain() {
		testutil.Missing(t, "gcc, ld or make not installed: cannot build the target kernel")
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("kpatch-build %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestTargetCLIGolden(t *testing.T) {
	script := filepath.Join(t.TempDir(), "session.txt")
	if err := os.WriteFile(script, []byte(`# a scripted session
run 100ms
console
load hello
lsmod
run 20ms
unload hello
console
time
tasks
`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runTargetCLI(t, "", "target", "run", "--cpus", "2", "--seed", "3", "-w", "mixed", "--script", script, "-e", "time")
	testutil.Golden(t, "testdata/target-session.golden", got)
	if again := runTargetCLI(t, "", "target", "run", "--cpus", "2", "--seed", "3", "-w", "mixed", "--script", script, "-e", "time"); again != got {
		t.Error("the same session printed something else the second time")
	}
}

func TestTargetCLIInteractive(t *testing.T) {
	got := runTargetCLI(t, "time\nbogus\nrun 1ms\ntime\nquit\ntime\n", "target", "run", "-i")
	for _, want := range []string{"target> ", "unknown command \"bogus\"", "0.001010s"} {
		if !strings.Contains(got, want) {
			t.Errorf("interactive session lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "target> ") != 5 {
		t.Errorf("want 5 prompts (the session ends at quit):\n%s", got)
	}
}

func TestTargetCLIWorkloads(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"target", "workloads"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"idle", "busy", "sleepers", "mixed", "loaded"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("workloads lacks %s:\n%s", w, out.String())
		}
	}
}
