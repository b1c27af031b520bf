package elfdiff_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestRealKernelDWARF builds testdata/realkernel/{orig,patched}.c as an
// external module object against the installed kernel's headers (kbuild,
// with the kernel's own flags and DWARF), diffs the two and checks that
// the output's DWARF reads cleanly and matches the patched object's.
func TestRealKernelDWARF(t *testing.T) {
	if testing.Short() {
		t.Skip("builds against the installed kernel")
	}
	kdir := testutil.KernelBuildDir(t)
	mk := testutil.NeedTool(t, "make")
	testutil.NeedTool(t, "gcc")
	objs := map[string]string{}
	for _, v := range []string{"orig", "patched"} {
		dir := filepath.Join(t.TempDir(), v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(filepath.Join("testdata", "realkernel", v+".c"))
		if err != nil {
			t.Fatal(err)
		}
		kbuild := "obj-m += dwarfmod.o\nccflags-y += -ffunction-sections -fdata-sections\n"
		if err := os.WriteFile(filepath.Join(dir, "dwarfmod.c"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Kbuild"), []byte(kbuild), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(mk, "-s", "-C", kdir, "M="+dir, "dwarfmod.o")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
		}
		objs[v] = filepath.Join(dir, "dwarfmod.o")
	}
	// Linux 6.1 x86-64: struct jump_entry and struct orc_entry.
	env := map[string]string{"JUMP_STRUCT_SIZE": "16", "ORC_STRUCT_SIZE": "6"}
	res, err := diffPaths(t, objs["orig"], objs["patched"], nil, nil, env)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if len(res.Report.Changes) != 1 || res.Report.Changes[0].Function != "dwarfmod_show" {
		t.Errorf("changes %+v, want dwarfmod_show changed", res.Report.Changes)
	}
	out, err := res.Output.Write()
	if err != nil {
		t.Fatal(err)
	}
	if g, err := elfobj.Read("out", out); err != nil || g.SectionByName(".debug_info") == nil {
		t.Fatalf("output has no .debug_info (%v)", err)
	}
	checkWellFormed(t, out)
	checkDebugInfo(t, objs["patched"], out)
}
