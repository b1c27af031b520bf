package module_test

import (
	"debug/elf"
	"os"
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

func diffCorpusCase(t *testing.T, name string, env map[string]string) *elfobj.File {
	t.Helper()
	dir := testutil.CorpusDir(t)
	orig, err := elfobj.Open(filepath.Join(dir, name+".ORIG.o"))
	if err != nil {
		t.Fatal(err)
	}
	patched, err := elfobj.Open(filepath.Join(dir, name+".PATCHED.o"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := symtab.Load(filepath.Join(dir, name+".ORIG.o"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfdiff.Diff(orig, patched, elfdiff.Options{Parent: "vmlinux", Table: tab,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := res.Output.Write()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elfobj.Read("out.o", b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestConvertKLP converts the diff of missing-secsym-issue-1272 (a
// function with eleven references to non-exported symbols) and checks the
// livepatch relocation section and symbols against the reference's output.
func TestConvertKLP(t *testing.T) {
	f := diffCorpusCase(t, "missing-secsym-issue-1272", map[string]string{"JUMP_STRUCT_SIZE": "16", "ORC_STRUCT_SIZE": "6",
		"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "ALT_STRUCT_SIZE": "13", "STATIC_CALL_STRUCT_SIZE": "8"})
	if err := module.ConvertKLP(f); err != nil {
		t.Fatal(err)
	}
	b, err := f.Write()
	if err != nil {
		t.Fatal(err)
	}
	g, err := elfobj.Read("klp.o", b)
	if err != nil {
		t.Fatal(err)
	}
	if g.SectionByName(kpatchfmt.RelocationsSection) != nil || g.SectionByName(kpatchfmt.SymbolsSection) != nil {
		t.Error("intermediate sections left")
	}
	rs := g.SectionByName(".klp.rela.vmlinux..text.__reserve_bytes")
	if rs == nil {
		t.Fatal("no .klp.rela.vmlinux..text.__reserve_bytes")
	}
	if rs.Flags&elfobj.SHFRelaLivepatch == 0 || rs.Base == nil || rs.Base.Name != ".text.__reserve_bytes" {
		t.Errorf("klp section header: flags %v base %v", rs.Flags, rs.Base)
	}
	if len(rs.Relocs) != 11 {
		t.Errorf("%d klp relocations, want 11", len(rs.Relocs))
	}
	want := map[string]elf.SymBind{".klp.sym.vmlinux.flush_space,1": elf.STB_LOCAL, ".klp.sym.vmlinux.btrfs_can_overcommit,0": elf.STB_GLOBAL}
	for _, r := range rs.Relocs {
		if r.Sym.Shndx != elfobj.SHNLivepatch || !strings.HasPrefix(r.Sym.Name, ".klp.sym.vmlinux.") {
			t.Errorf("relocation at %#x against %s (shndx %v)", r.Offset, r.Sym.Name, r.Sym.Shndx)
		}
		if bind, ok := want[r.Sym.Name]; ok {
			if r.Sym.Bind != bind {
				t.Errorf("%s bound %v, want %v", r.Sym.Name, r.Sym.Bind, bind)
			}
			delete(want, r.Sym.Name)
		}
		if r.Offset == 0x120 && (r.Sym.Name != ".klp.sym.vmlinux.btrfs_space_info_update_bytes_may_use,1" || r.Addend != -4 || r.Type != uint32(elf.R_X86_64_PC32)) {
			t.Errorf("entry at 0x120: %s %d %d", r.Sym.Name, r.Type, r.Addend)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing klp symbols %v", want)
	}
	p := filepath.Join(t.TempDir(), "klp.o")
	os.WriteFile(p, b, 0o644)
}
