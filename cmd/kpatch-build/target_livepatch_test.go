package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestTargetLivepatchCLI drives the livepatch verbs interactively: enable
// a patch module, look at the sysfs-like view, disable it, refuse to
// enable the disabled patch again, unload it.
func TestTargetLivepatchCLI(t *testing.T) {
	if !boot.HaveToolchain() {
		testutil.Missing(t, "gcc, ld or make not installed: cannot build the target kernel")
	}
	mod := filepath.Join(testutil.RepoRoot(), "emulator", "livepatch", "testdata", "modules", "test_klp_livepatch")
	b, err := boot.BuildKernel(boot.BuildOptions{ExtraModules: []string{mod}})
	if err != nil {
		t.Fatal(err)
	}
	ko := b.Modules["test_klp_livepatch"]
	got := runTargetCLI(t, strings.Join([]string{
		"livepatch enable " + ko,
		"livepatch status",
		"livepatch disable test_klp_livepatch",
		"livepatch enable " + ko,
		"livepatch unload test_klp_livepatch",
		"livepatch report",
		"console",
		"quit",
	}, "\n"), "target", "run", "-i", "--cpus", "2")
	got = strings.ReplaceAll(got, ko, "test_klp_livepatch.ko")
	for _, want := range []string{"enabled: 1", "cannot be enabled again", "unloaded test_klp_livepatch", "patching (hybrid): completed"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	testutil.Golden(t, "testdata/target-livepatch.golden", got)
}
