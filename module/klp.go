package module

import (
	"debug/elf"
	"fmt"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
)

// KLPReloc is one decoded entry of .kpatch.relocations with its symbol.
type KLPReloc = kpatchfmt.Relocation

// KLPSym is one decoded entry of .kpatch.symbols.
type KLPSym = kpatchfmt.Symbol

// KLPSymName is the livepatch symbol name for s: .klp.sym.OBJ.NAME,POS.
func KLPSymName(s KLPSym) string {
	return fmt.Sprintf(".klp.sym.%s.%s,%d", s.ObjName, s.Name, s.Sympos)
}

// ReadKLPRelocs decodes the intermediate klp tables of an object.
func ReadKLPRelocs(f *elfobj.File) ([]KLPReloc, error) {
	return kpatchfmt.NewReader(f).ReadRelocations()
}

// ConvertKLP rewrites f in place: every entry of .kpatch.relocations becomes
// a relocation in a .klp.rela.OBJ.SEC section against a .klp.sym symbol,
// and the intermediate .kpatch.relocations and .kpatch.symbols sections
// (with their relocation sections and section symbols) are removed.
func ConvertKLP(f *elfobj.File) error {
	krs, err := ReadKLPRelocs(f)
	if err != nil {
		return err
	}
	remove := map[*elfobj.Section]bool{}
	for _, n := range []string{kpatchfmt.RelocationsSection, kpatchfmt.SymbolsSection} {
		if s := f.SectionByName(n); s != nil {
			remove[s] = true
			if s.Rela != nil {
				remove[s.Rela] = true
			}
		}
	}
	if len(remove) == 0 {
		return nil
	}
	// klp symbols, de-duplicated by name.
	symByName := map[string]*elfobj.Symbol{}
	var newLocals, newGlobals []*elfobj.Symbol
	// klp relocation sections, one per (object, destination section).
	type key struct {
		obj  string
		dest *elfobj.Section
	}
	secs := map[key]*elfobj.Section{}
	var order []key
	for _, kr := range krs {
		name := KLPSymName(kr.Sym)
		sym := symByName[name]
		if sym == nil {
			sym = &elfobj.Symbol{Name: name, Type: kr.Sym.Type, Bind: kr.Sym.Bind, Shndx: elfobj.SHNLivepatch}
			symByName[name] = sym
			if sym.Bind == elf.STB_LOCAL {
				newLocals = append(newLocals, sym)
			} else {
				newGlobals = append(newGlobals, sym)
			}
		}
		k := key{kr.ObjName, kr.Dest}
		rs := secs[k]
		if rs == nil {
			rs = &elfobj.Section{
				Name:    fmt.Sprintf(".klp.rela.%s.%s", kr.ObjName, kr.Dest.Name),
				Type:    elf.SHT_RELA,
				Flags:   elfobj.SHFRelaLivepatch | elf.SHF_INFO_LINK | elf.SHF_ALLOC,
				Align:   8,
				EntSize: 24,
				Base:    kr.Dest,
			}
			secs[k] = rs
			order = append(order, k)
		}
		rs.Relocs = append(rs.Relocs, elfobj.Reloc{Offset: kr.Offset, Type: kr.Type, Sym: sym, Addend: kr.Addend})
	}
	// Sections: drop the intermediate ones, append the klp ones.
	kept := f.Sections[:0]
	for _, s := range f.Sections {
		if !remove[s] {
			kept = append(kept, s)
		}
	}
	f.Sections = kept
	for _, k := range order {
		f.Sections = append(f.Sections, secs[k])
	}
	// Symbols: drop section symbols of removed sections, insert the klp
	// locals after the last local and append the klp globals.
	var locals, globals []*elfobj.Symbol
	for i, s := range f.Symbols {
		if s.Section != nil && remove[s.Section] {
			continue
		}
		if i == 0 || s.Bind == elf.STB_LOCAL {
			locals = append(locals, s)
		} else {
			globals = append(globals, s)
		}
	}
	f.Symbols = append(append(append(locals, newLocals...), globals...), newGlobals...)
	return nil
}
