package module_test

import (
	"context"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// TestBuildModule builds a patch module for the bundled kernel from one of
// its example patches, against the symbols of the running vmlinux (built
// without function sections).
func TestBuildModule(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "make")
	src := filepath.Join(testutil.RepoRoot(), "emulator", "kernel")
	tmp := t.TempDir()
	running := filepath.Join(tmp, "running")
	if err := worktree.CopyTree(src, running); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("make", "-s", "-C", running, "-j2").CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	pp, err := patch.Read(filepath.Join(src, "patches", "meminfo-string.patch"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := kbuild.Run(context.Background(), kbuild.Options{SourceDir: src, CacheDir: filepath.Join(tmp, "cache"), Patches: []*patch.Patch{pp}, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := symtab.Load(filepath.Join(running, "vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := symtab.LoadSymvers(filepath.Join(running, "Module.symvers"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "12"}
	var diffs []string
	for _, obj := range res.Changed {
		out := filepath.Join(tmp, strings.ReplaceAll(obj, "/", "_"))
		diffFiles(t, filepath.Join(res.SavedDir, obj), filepath.Join(res.WorkDir, obj), out, tab, sv, env)
		diffs = append(diffs, out)
	}
	flags, err := exec.Command("make", "-s", "-C", src, "print-cflags").Output()
	if err != nil {
		t.Fatal(err)
	}
	ko := filepath.Join(tmp, "livepatch-meminfo-string.ko")
	err = module.Build(module.Options{Name: module.NameFromPatches([]string{pp.Path}), Objects: diffs, TreeDir: src,
		CFlags: strings.Fields(string(flags)), ModuleScript: filepath.Join(src, "scripts", "module.lds"),
		Release: "6.1.0-kpatchgo", WorkDir: filepath.Join(tmp, "mod"), Output: ko})
	if err != nil {
		t.Fatal(err)
	}
	f, err := elfobj.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	var klp []string
	for _, s := range f.Sections {
		if s.Flags&elfobj.SHFRelaLivepatch != 0 {
			for _, r := range s.Relocs {
				klp = append(klp, s.Name+" "+r.Sym.Name)
			}
		}
	}
	want := ".klp.rela.vmlinux..text.meminfo_proc_show .klp.sym.vmlinux.show_val_kb,"
	found := false
	for _, k := range klp {
		if strings.HasPrefix(k, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no klp relocation to show_val_kb in %q", klp)
	}
	for _, name := range []string{"init_module", "__kpatch_funcs", "__kpatch_funcs_end"} {
		if f.SymbolByName(name) == nil {
			t.Errorf("module has no %s", name)
		}
	}
	if f.SectionByName(kpatchfmt.RelocationsSection) != nil {
		t.Errorf("intermediate section left in the module")
	}
	l := module.Inspect(f)
	if len(l.Problems) > 0 {
		t.Errorf("inspect: %v", l.Problems)
	}
	testutil.Golden(t, filepath.Join("testdata", "meminfo-string.listing.golden"), l.String())
}

// diffFiles diffs two objects of a vmlinux object against the parent's
// symbols tab and exports sv (env gives the special-section struct sizes)
// and writes the diff object to out.
func diffFiles(t *testing.T, origPath, patchedPath, out string, tab *symtab.Table, sv *symtab.Symvers, env map[string]string) {
	t.Helper()
	orig, err := elfobj.Open(origPath)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := elfobj.Open(patchedPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := elfdiff.Diff(orig, patched, elfdiff.Options{Parent: "vmlinux", Table: tab, Symvers: sv,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatalf("diff %s: %v", patchedPath, err)
	}
	if err := d.Output.WriteFile(out); err != nil {
		t.Fatal(err)
	}
}
