package livepatch_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// TestKpatchBuildModule builds a patch module with the kpatch-build
// pipeline from emulator/kernel/patches/meminfo-string.patch, boots the
// running kernel it was built against (not the function-sections build
// it was diffed with), and verifies it end to end: meminfo shows
// VMALLOCCHUNK while patched and VmallocChunk again after unloading.
func TestKpatchBuildModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernel twice")
	}
	tree := testutil.KernelTree(t)
	patch := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches", "meminfo-string.patch")
	res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: tree, Patches: []string{patch},
		OutputDir: t.TempDir(), CacheDir: t.TempDir(), Jobs: 2, SkipCompilerCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := livepatch.VerifyModule(res.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(res.Running, "vmlinux")})
	if err != nil {
		if rep != nil {
			t.Logf("console:\n%s", rep.Console)
		}
		t.Fatal(err)
	}
	t.Logf("%s", rep.Summary())
	if len(rep.Changed) != 1 || rep.Changed[0] != "meminfo" {
		t.Fatalf("changed checks %v, want [meminfo]", rep.Changed)
	}
	if !strings.Contains(rep.Patched["meminfo"], "VMALLOCCHUNK:") || strings.Contains(rep.Patched["meminfo"], "VmallocChunk:") {
		t.Errorf("patched meminfo:\n%s", rep.Patched["meminfo"])
	}
	if !strings.Contains(rep.After["meminfo"], "VmallocChunk:") {
		t.Errorf("meminfo after unload:\n%s", rep.After["meminfo"])
	}
	testutil.Golden(t, "testdata/kpatch-build-meminfo.golden", rep.Summary())
}
