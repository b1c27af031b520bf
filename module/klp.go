package module

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// Sizes of the intermediate records on 64-bit machines.
const (
	relocSize = 40
	symSize   = 40
)

// KLPReloc is one decoded entry of .kpatch.relocations with its symbol.
type KLPReloc struct {
	Dest     *elfobj.Section // section being relocated
	Offset   uint64
	Type     uint32
	Addend   int64
	External bool
	ObjName  string // object the relocation belongs to (the patched object)
	Sym      KLPSym
}

// KLPSym is one decoded entry of .kpatch.symbols.
type KLPSym struct {
	Name    string
	ObjName string // object that defines the symbol
	Sympos  uint64
	Bind    elf.SymBind
	Type    elf.SymType
	Src     uint64
}

// KLPSymName is the livepatch symbol name for s: .klp.sym.OBJ.NAME,POS.
func KLPSymName(s KLPSym) string {
	return fmt.Sprintf(".klp.sym.%s.%s,%d", s.ObjName, s.Name, s.Sympos)
}

type tables struct {
	f       *elfobj.File
	bo      binary.ByteOrder
	strings *elfobj.Section
}

func (t *tables) relocAt(s *elfobj.Section) map[uint64]elfobj.Reloc {
	m := map[uint64]elfobj.Reloc{}
	if s.Rela != nil {
		for _, r := range s.Rela.Relocs {
			m[r.Offset] = r
		}
	}
	return m
}

func (t *tables) str(m map[uint64]elfobj.Reloc, off uint64, what string) (string, error) {
	r, ok := m[off]
	if !ok {
		return "", fmt.Errorf("%s: no relocation at offset %#x", what, off)
	}
	if r.Sym.Section != t.strings {
		return "", fmt.Errorf("%s: relocation at %#x does not point into .kpatch.strings", what, off)
	}
	d := t.strings.Data
	if r.Addend < 0 || r.Addend >= int64(len(d)) {
		return "", fmt.Errorf("%s: string offset %d outside .kpatch.strings", what, r.Addend)
	}
	end := r.Addend
	for end < int64(len(d)) && d[end] != 0 {
		end++
	}
	return string(d[r.Addend:end]), nil
}

// ReadKLPRelocs decodes the intermediate klp tables of an object.
func ReadKLPRelocs(f *elfobj.File) ([]KLPReloc, error) {
	t := &tables{f: f, bo: binary.LittleEndian, strings: f.SectionByName(".kpatch.strings")}
	if f.Data == elf.ELFDATA2MSB {
		t.bo = binary.BigEndian
	}
	rs, ss := f.SectionByName(".kpatch.relocations"), f.SectionByName(".kpatch.symbols")
	if rs == nil && ss == nil {
		return nil, nil
	}
	if rs == nil || ss == nil || t.strings == nil {
		return nil, fmt.Errorf("%s: needs .kpatch.strings, .kpatch.symbols and .kpatch.relocations", f.Name)
	}
	if len(rs.Data)%relocSize != 0 || len(ss.Data)%symSize != 0 {
		return nil, fmt.Errorf("%s: .kpatch.relocations or .kpatch.symbols has a partial entry", f.Name)
	}
	n := len(rs.Data) / relocSize
	if n != len(ss.Data)/symSize {
		return nil, fmt.Errorf("%s: .kpatch.relocations has %d entries but .kpatch.symbols %d", f.Name, n, len(ss.Data)/symSize)
	}
	mr, ms := t.relocAt(rs), t.relocAt(ss)
	var out []KLPReloc
	for i := 0; i < n; i++ {
		base := uint64(i * relocSize)
		what := fmt.Sprintf("%s: .kpatch.relocations entry %d", f.Name, i)
		b := rs.Data[base:]
		dest, ok := mr[base]
		if !ok || dest.Sym.Section == nil {
			return nil, fmt.Errorf("%s: no destination", what)
		}
		obj, err := t.str(mr, base+24, what)
		if err != nil {
			return nil, err
		}
		k, ok := mr[base+32]
		if !ok || k.Sym.Section != ss || k.Addend < 0 || uint64(k.Addend)+symSize > uint64(len(ss.Data)) {
			return nil, fmt.Errorf("%s: symbol reference outside .kpatch.symbols", what)
		}
		ko := uint64(k.Addend)
		sb := ss.Data[ko:]
		name, err := t.str(ms, ko+24, what)
		if err != nil {
			return nil, err
		}
		symobj, err := t.str(ms, ko+32, what)
		if err != nil {
			return nil, err
		}
		out = append(out, KLPReloc{
			Dest:     dest.Sym.Section,
			Offset:   dest.Sym.Value + uint64(dest.Addend),
			Type:     t.bo.Uint32(b[8:]),
			External: int32(t.bo.Uint32(b[12:])) != 0,
			Addend:   int64(t.bo.Uint64(b[16:])),
			ObjName:  obj,
			Sym: KLPSym{Name: name, ObjName: symobj, Sympos: t.bo.Uint64(sb[8:]), Bind: elf.SymBind(sb[16]),
				Type: elf.SymType(sb[17]), Src: t.bo.Uint64(sb[0:])},
		})
	}
	return out, nil
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
	for _, n := range []string{".kpatch.relocations", ".kpatch.symbols"} {
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
