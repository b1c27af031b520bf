package elfobj_test

import (
	"debug/elf"
	"fmt"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// TestExtendedIndices writes an object with more sections than fit in
// st_shndx and e_shnum, and reads it back: symbols of high sections go
// through SHT_SYMTAB_SHNDX, and the section count through section 0.
func TestExtendedIndices(t *testing.T) {
	const n = 70000
	f := &elfobj.File{Name: "big.o", Data: elf.ELFDATA2LSB, Machine: elf.EM_X86_64, Type: elf.ET_REL, Version: 1}
	f.Symbols = []*elfobj.Symbol{{}}
	var last *elfobj.Section
	for i := 0; i < n; i++ {
		s := &elfobj.Section{Name: fmt.Sprintf(".text.f%d", i), Type: elf.SHT_PROGBITS, Flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, Align: 1, Data: []byte{0xc3}}
		f.Sections = append(f.Sections, s)
		last = s
	}
	f.Symbols = append(f.Symbols, &elfobj.Symbol{Name: "last", Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Section: last, Size: 1})
	rela := &elfobj.Section{Name: ".rela.text.f0", Type: elf.SHT_RELA, Flags: elf.SHF_INFO_LINK, Base: f.Sections[0],
		Relocs: []elfobj.Reloc{{Offset: 0, Type: uint32(elf.R_X86_64_PC32), Sym: f.Symbols[1], Addend: -4}}}
	f.Sections = append(f.Sections, rela)
	b, err := f.Write()
	if err != nil {
		t.Fatal(err)
	}
	g, err := elfobj.Read("big.o", b)
	if err != nil {
		t.Fatal(err)
	}
	sym := g.SymbolByName("last")
	if sym == nil || sym.Section == nil || sym.Section.Name != fmt.Sprintf(".text.f%d", n-1) {
		t.Fatalf("symbol last: %+v", sym)
	}
	if g.SectionByName(".symtab_shndx") == nil {
		t.Errorf("no .symtab_shndx written")
	}
	rs := g.SectionByName(".rela.text.f0")
	if rs == nil || len(rs.Relocs) != 1 || rs.Relocs[0].Sym.Name != "last" || rs.Base.Name != ".text.f0" {
		t.Errorf("relocation section not kept: %+v", rs)
	}
}
