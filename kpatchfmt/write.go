package kpatchfmt

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// Table is the content of one record section being written: its data and
// the relocations that fill its pointer fields (for the section's .rela).
type Table struct {
	Data   []byte
	Relocs []elfobj.Reloc
}

// Writer builds the intermediate tables of one output object. The caller
// creates the sections and their section symbols, sets StringsSym and
// SymbolsSym, adds the records, then stores Strings and each Table in its
// section and relocation section.
type Writer struct {
	Layout Layout
	// Abs is the machine's absolute pointer-sized relocation type.
	Abs uint32
	// StringsSym is the section symbol of .kpatch.strings.
	StringsSym *elfobj.Symbol
	// SymbolsSym is the section symbol of .kpatch.symbols.
	SymbolsSym *elfobj.Symbol

	// Strings is the content of .kpatch.strings, in first-use order.
	Strings []byte
	// The record tables.
	Funcs, Relocations, Symbols Table

	strOff map[string]int64
}

// Str returns the offset of s in .kpatch.strings, adding it once.
func (w *Writer) Str(s string) int64 {
	if w.strOff == nil {
		w.strOff = map[string]int64{}
	}
	if o, ok := w.strOff[s]; ok {
		return o
	}
	o := int64(len(w.Strings))
	w.Strings = append(w.Strings, s...)
	w.Strings = append(w.Strings, 0)
	w.strOff[s] = o
	return o
}

// strReloc is the relocation that points the field at off to s.
func (w *Writer) strReloc(off int, s string) elfobj.Reloc {
	return elfobj.Reloc{Offset: uint64(off), Type: w.Abs, Sym: w.StringsSym, Addend: w.Str(s)}
}

// AddFunc appends a record to .kpatch.funcs.
func (w *Writer) AddFunc(f Func) {
	l := w.Layout
	base := len(w.Funcs.Data)
	w.Funcs.Data = append(w.Funcs.Data, make([]byte, l.FuncSize())...)
	b := w.Funcs.Data[base:]
	p := l.PtrSize
	l.put(b[funcNewSize*p:], f.NewSize)
	l.put(b[funcOldAddr*p:], f.OldAddr)
	l.put(b[funcOldSize*p:], f.OldSize)
	l.put(b[funcSympos*p:], f.Sympos)
	w.Funcs.Relocs = append(w.Funcs.Relocs,
		elfobj.Reloc{Offset: uint64(base + funcNewAddr*p), Type: w.Abs, Sym: f.New},
		w.strReloc(base+funcName*p, f.Name),
		w.strReloc(base+funcObjName*p, f.ObjName))
}

// AddRelocation appends a record to .kpatch.relocations and its symbol to
// .kpatch.symbols. r.Dest.Sym must be the section symbol of the relocated
// section in the output.
func (w *Writer) AddRelocation(r Relocation) error {
	if r.Dest == nil || r.Dest.Sym == nil {
		return fmt.Errorf("kpatch relocation against %s: the relocated section has no section symbol", r.Sym.Name)
	}
	l := w.Layout
	ro := len(w.Relocations.Data)
	w.Relocations.Data = append(w.Relocations.Data, make([]byte, l.RelocSize())...)
	b := w.Relocations.Data[ro:]
	l.Order.PutUint32(b[l.relocType():], r.Type)
	if r.External {
		l.Order.PutUint32(b[l.relocExternal():], 1)
	}
	l.put(b[l.relocAddend():], uint64(r.Addend))
	so := len(w.Symbols.Data)
	w.Relocations.Relocs = append(w.Relocations.Relocs,
		elfobj.Reloc{Offset: uint64(ro), Type: w.Abs, Sym: r.Dest.Sym, Addend: int64(r.Offset)},
		w.strReloc(ro+l.relocObjName(), r.ObjName),
		elfobj.Reloc{Offset: uint64(ro + l.relocKSym()), Type: w.Abs, Sym: w.SymbolsSym, Addend: int64(so)})

	w.Symbols.Data = append(w.Symbols.Data, make([]byte, l.SymbolSize())...)
	s := w.Symbols.Data[so:]
	l.put(s, r.Sym.Src)
	l.put(s[l.symSympos():], r.Sym.Sympos)
	s[l.symBind()] = byte(r.Sym.Bind)
	s[l.symType()] = byte(r.Sym.Type)
	w.Symbols.Relocs = append(w.Symbols.Relocs,
		w.strReloc(so+l.symName(), r.Sym.Name),
		w.strReloc(so+l.symObjName(), r.Sym.ObjName))
	return nil
}

// CallbackObjName is the relocation that sets the objname of the callback
// record at the start of a callback section to objname.
func (w *Writer) CallbackObjName(objname string) elfobj.Reloc {
	return w.strReloc(w.Layout.callbackObjName(), objname)
}
