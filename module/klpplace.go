package module

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// klpSymPrefix starts the name of every livepatch symbol (KLPSymName).
const klpSymPrefix = ".klp.sym."

// AddKLPPlaceholders puts back, in f's ordinary relocation sections, a
// relocation at the place of every entry of .kpatch.relocations (same
// type and addend) against an undefined symbol named as its livepatch
// symbol will be. The diff engine moves these relocations out of the
// code, so a call to a symbol the livepatch core resolves would read, to
// objtool, as a call to the next instruction ("unannotated intra-function
// call"): on kernels that run objtool when a module is linked (IBT, 6.12)
// objtool then stops, and the module gets no .return_sites, .call_sites
// or ORC data. With the placeholders objtool sees calls to external
// symbols; ConvertKLP removes them after the link.
func AddKLPPlaceholders(f *elfobj.File) error {
	krs, err := ReadKLPRelocs(f)
	if err != nil {
		return err
	}
	syms := map[string]*elfobj.Symbol{}
	for _, kr := range krs {
		if kr.Dest == nil {
			return fmt.Errorf("%s: a klp relocation without a destination section", f.Name)
		}
		name := KLPSymName(kr.Sym)
		sym := syms[name]
		if sym == nil {
			sym = &elfobj.Symbol{Name: name, Type: elf.STT_NOTYPE, Bind: elf.STB_GLOBAL, Shndx: elf.SHN_UNDEF}
			syms[name] = sym
			f.Symbols = append(f.Symbols, sym)
		}
		rs := kr.Dest.Rela
		if rs == nil {
			rs = &elfobj.Section{Name: ".rela" + kr.Dest.Name, Type: elf.SHT_RELA, Flags: elf.SHF_INFO_LINK,
				Align: 8, EntSize: 24, Base: kr.Dest}
			kr.Dest.Rela = rs
			f.Sections = append(f.Sections, rs)
		}
		rs.Relocs = append(rs.Relocs, elfobj.Reloc{Offset: kr.Offset, Type: kr.Type, Sym: sym, Addend: kr.Addend})
	}
	return nil
}

// isKLPPlaceholder reports whether s is a placeholder AddKLPPlaceholders
// made (an undefined symbol with a livepatch symbol's name).
func isKLPPlaceholder(s *elfobj.Symbol) bool {
	return s != nil && s.Section == nil && s.Shndx == elf.SHN_UNDEF && strings.HasPrefix(s.Name, klpSymPrefix)
}

// removeKLPPlaceholders drops the placeholder relocations from f's
// ordinary relocation sections (and the relocation sections they leave
// empty), and the .call_sites entries of the calls they stood for: the
// module loader patches each call of .call_sites to its callee's call
// thunk when the module loads, but a call the livepatch core resolves
// later has no callee yet.
func removeKLPPlaceholders(f *elfobj.File) error {
	places := map[siteKey]bool{}
	empty := map[*elfobj.Section]bool{}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elfobj.SHFRelaLivepatch != 0 {
			continue
		}
		kept := s.Relocs[:0]
		for _, r := range s.Relocs {
			if isKLPPlaceholder(r.Sym) {
				places[siteKey{s.Base, r.Offset}] = true
				continue
			}
			kept = append(kept, r)
		}
		if len(kept) == 0 && len(s.Relocs) > 0 {
			empty[s] = true
		}
		s.Relocs = kept
	}
	if len(places) == 0 {
		return nil
	}
	if cs := f.SectionByName(".call_sites"); cs != nil && cs.Rela != nil {
		// One 4-byte PC-relative entry per call, pointing at the call
		// instruction; its rel32 field is one byte further.
		var data []byte
		var relocs []elfobj.Reloc
		for _, r := range cs.Rela.Relocs {
			if r.Offset+4 > uint64(len(cs.Data)) || r.Sym == nil || r.Sym.Section == nil {
				return fmt.Errorf(".call_sites+%#x: unexpected entry", r.Offset)
			}
			call := uint64(int64(r.Sym.Value) + r.Addend + int64(int32(binary.LittleEndian.Uint32(cs.Data[r.Offset:]))))
			if places[siteKey{r.Sym.Section, call + 1}] {
				continue
			}
			r2 := r
			r2.Offset = uint64(len(data))
			data = append(data, cs.Data[r.Offset:r.Offset+4]...)
			relocs = append(relocs, r2)
		}
		cs.Data, cs.Size, cs.Rela.Relocs = data, uint64(len(data)), relocs
	}
	kept := f.Sections[:0]
	for _, s := range f.Sections {
		if empty[s] {
			if s.Base != nil && s.Base.Rela == s {
				s.Base.Rela = nil
			}
			continue
		}
		kept = append(kept, s)
	}
	f.Sections = kept
	return nil
}
