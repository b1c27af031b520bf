package kpatchfmt

import (
	"debug/elf"
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// Ptr is a pointer field as stored in an object: the relocation that
// fills it, if there is one.
type Ptr struct {
	Off   uint64 // offset of the field in its section
	Reloc elfobj.Reloc
	OK    bool
}

// FuncRecord is a .kpatch.funcs record as stored.
type FuncRecord struct {
	New                               Ptr
	NewSize, OldAddr, OldSize, Sympos uint64
	Name, ObjName                     Ptr
}

// RelocRecord is a .kpatch.relocations record as stored.
type RelocRecord struct {
	Dest          Ptr
	Type          uint32
	External      int32
	Addend        int64
	ObjName, KSym Ptr
}

// SymbolRecord is a .kpatch.symbols record as stored.
type SymbolRecord struct {
	Src, Sympos   uint64
	Bind, Type    uint8
	Name, ObjName Ptr
}

// CallbackRecord is the record of a callback section as stored.
type CallbackRecord struct {
	Section     *elfobj.Section // the callback section
	Fn, ObjName Ptr
}

// Reader decodes the intermediate tables of an object.
type Reader struct {
	Layout Layout
	File   *elfobj.File
	// The intermediate sections; nil when absent.
	Strings, Funcs, Relocations, Symbols *elfobj.Section

	symPtrs ptrs // relocations of .kpatch.symbols, built on first use
}

// NewReader returns a reader of f's intermediate tables.
func NewReader(f *elfobj.File) *Reader {
	return &Reader{Layout: For(f), File: f,
		Strings: f.SectionByName(StringsSection), Funcs: f.SectionByName(FuncsSection),
		Relocations: f.SectionByName(RelocationsSection), Symbols: f.SectionByName(SymbolsSection)}
}

// ptrs maps each offset of s to the relocation that fills it (the last one
// when several do).
type ptrs map[uint64]elfobj.Reloc

func ptrsOf(s *elfobj.Section) ptrs {
	m := ptrs{}
	if s != nil && s.Rela != nil {
		for _, r := range s.Rela.Relocs {
			m[r.Offset] = r
		}
	}
	return m
}

func (m ptrs) at(off int) Ptr {
	r, ok := m[uint64(off)]
	return Ptr{Off: uint64(off), Reloc: r, OK: ok}
}

// FuncRecords lists the complete records of .kpatch.funcs.
func (r *Reader) FuncRecords() []FuncRecord {
	s := r.Funcs
	if s == nil {
		return nil
	}
	l, p, m := r.Layout, r.Layout.PtrSize, ptrsOf(s)
	var out []FuncRecord
	for base := 0; base+l.FuncSize() <= len(s.Data); base += l.FuncSize() {
		b := s.Data[base:]
		out = append(out, FuncRecord{New: m.at(base + funcNewAddr*p),
			NewSize: l.word(b[funcNewSize*p:]), OldAddr: l.word(b[funcOldAddr*p:]),
			OldSize: l.word(b[funcOldSize*p:]), Sympos: l.word(b[funcSympos*p:]),
			Name: m.at(base + funcName*p), ObjName: m.at(base + funcObjName*p)})
	}
	return out
}

// RelocRecords lists the complete records of .kpatch.relocations; none
// unless the object has both .kpatch.relocations and .kpatch.symbols.
func (r *Reader) RelocRecords() []RelocRecord {
	s := r.Relocations
	if s == nil || r.Symbols == nil {
		return nil
	}
	l, m := r.Layout, ptrsOf(s)
	var out []RelocRecord
	for base := 0; base+l.RelocSize() <= len(s.Data); base += l.RelocSize() {
		b := s.Data[base:]
		out = append(out, RelocRecord{Dest: m.at(base),
			Type: l.Order.Uint32(b[l.relocType():]), External: int32(l.Order.Uint32(b[l.relocExternal():])),
			Addend: l.sword(b[l.relocAddend():]), ObjName: m.at(base + l.relocObjName()), KSym: m.at(base + l.relocKSym())})
	}
	return out
}

// SymbolAt decodes the .kpatch.symbols record that a relocation record's
// ksym points at; false when ksym has no relocation or its addend is not
// the start of a whole record inside .kpatch.symbols.
func (r *Reader) SymbolAt(ksym Ptr) (SymbolRecord, bool) {
	s, l := r.Symbols, r.Layout
	if s == nil || !ksym.OK || ksym.Reloc.Addend < 0 || uint64(ksym.Reloc.Addend)+uint64(l.SymbolSize()) > uint64(len(s.Data)) {
		return SymbolRecord{}, false
	}
	o := int(ksym.Reloc.Addend)
	if r.symPtrs == nil {
		r.symPtrs = ptrsOf(s)
	}
	b, m := s.Data[o:], r.symPtrs
	return SymbolRecord{Src: l.word(b), Sympos: l.word(b[l.symSympos():]), Bind: b[l.symBind()], Type: b[l.symType()],
		Name: m.at(o + l.symName()), ObjName: m.at(o + l.symObjName())}, true
}

// CallbackRecords lists the records of the object's callback sections, in
// the order of their relocation sections.
func (r *Reader) CallbackRecords() []CallbackRecord {
	var out []CallbackRecord
	for _, s := range r.File.Sections {
		if s.Type != elf.SHT_RELA || s.Base == nil || !strings.HasPrefix(s.Base.Name, CallbackPrefix) {
			continue
		}
		m := ptrsOf(s.Base)
		out = append(out, CallbackRecord{Section: s.Base, Fn: m.at(0), ObjName: m.at(r.Layout.callbackObjName())})
	}
	return out
}

// String is the string a pointer field points at in .kpatch.strings.
func (r *Reader) String(p Ptr) (string, error) {
	if !p.OK {
		return "", fmt.Errorf("no relocation at offset %#x", p.Off)
	}
	if r.Strings == nil || p.Reloc.Sym.Section != r.Strings {
		return "", fmt.Errorf("relocation at %#x does not point into %s", p.Off, StringsSection)
	}
	d := r.Strings.Data
	a := p.Reloc.Addend
	if a < 0 || a >= int64(len(d)) {
		return "", fmt.Errorf("string offset %d outside %s", a, StringsSection)
	}
	end := a
	for end < int64(len(d)) && d[end] != 0 {
		end++
	}
	return string(d[a:end]), nil
}

// ReadRelocations decodes .kpatch.relocations and .kpatch.symbols strictly:
// any missing, partial or dangling part is an error naming the object and
// the entry. An object with neither section has no relocations.
func (r *Reader) ReadRelocations() ([]Relocation, error) {
	f, rs, ss, l := r.File, r.Relocations, r.Symbols, r.Layout
	if rs == nil && ss == nil {
		return nil, nil
	}
	if rs == nil || ss == nil || r.Strings == nil {
		return nil, fmt.Errorf("%s: needs %s, %s and %s", f.Name, StringsSection, SymbolsSection, RelocationsSection)
	}
	if len(rs.Data)%l.RelocSize() != 0 || len(ss.Data)%l.SymbolSize() != 0 {
		return nil, fmt.Errorf("%s: %s or %s has a partial entry", f.Name, RelocationsSection, SymbolsSection)
	}
	n := len(rs.Data) / l.RelocSize()
	if n != len(ss.Data)/l.SymbolSize() {
		return nil, fmt.Errorf("%s: %s has %d entries but %s %d", f.Name, RelocationsSection, n, SymbolsSection, len(ss.Data)/l.SymbolSize())
	}
	var out []Relocation
	for i, rec := range r.RelocRecords() {
		what := fmt.Sprintf("%s: %s entry %d", f.Name, RelocationsSection, i)
		str := func(p Ptr) (string, error) {
			s, err := r.String(p)
			if err != nil {
				return "", fmt.Errorf("%s: %w", what, err)
			}
			return s, nil
		}
		dest := rec.Dest.Reloc
		if !rec.Dest.OK || dest.Sym.Section == nil {
			return nil, fmt.Errorf("%s: no destination", what)
		}
		obj, err := str(rec.ObjName)
		if err != nil {
			return nil, err
		}
		sym, ok := r.SymbolAt(rec.KSym)
		if !ok || rec.KSym.Reloc.Sym.Section != ss {
			return nil, fmt.Errorf("%s: symbol reference outside %s", what, SymbolsSection)
		}
		name, err := str(sym.Name)
		if err != nil {
			return nil, err
		}
		symobj, err := str(sym.ObjName)
		if err != nil {
			return nil, err
		}
		out = append(out, Relocation{
			Dest: dest.Sym.Section, Offset: dest.Sym.Value + uint64(dest.Addend),
			Type: rec.Type, External: rec.External != 0, Addend: rec.Addend, ObjName: obj,
			Sym: Symbol{Name: name, ObjName: symobj, Sympos: sym.Sympos, Bind: elf.SymBind(sym.Bind),
				Type: elf.SymType(sym.Type), Src: sym.Src},
		})
	}
	return out, nil
}
