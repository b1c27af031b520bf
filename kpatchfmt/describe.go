package kpatchfmt

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// Describe decodes the kpatch intermediate sections of an output object
// into stable lines, one fact each:
//
//	kfunc NAME obj=OBJ pos=SYMPOS old_addr=0x.. old_size=N new_size=N new=SYM
//	krela DESTSEC+OFF type=T addend=A ext=E obj=OBJ -> sym=NAME symobj=OBJ pos=P bind=B type=T src=0x..
//	callback SEC obj=OBJ fn=SYM
//
// the same format as the kpatch unit-object records.
func Describe(f *elfobj.File) []string {
	r := NewReader(f)
	kstr := func(p Ptr) string {
		if !p.OK {
			return "?"
		}
		if p.Reloc.Sym.Type == elf.STT_SECTION {
			if s, err := r.String(p); err == nil {
				return s
			}
		}
		return fmt.Sprintf("%s%+d", p.Reloc.Sym.Name, p.Reloc.Addend)
	}
	var lines []string
	for _, k := range r.FuncRecords() {
		newSym := "?"
		if k.New.OK {
			newSym = k.New.Reloc.Sym.Name
		}
		lines = append(lines, fmt.Sprintf("kfunc %s obj=%s pos=%d old_addr=%#x old_size=%d new_size=%d new=%s",
			kstr(k.Name), kstr(k.ObjName), k.Sympos, k.OldAddr, k.OldSize, k.NewSize, newSym))
	}
	for _, k := range r.RelocRecords() {
		dest := "?"
		if k.Dest.OK {
			dest = fmt.Sprintf("%s+%#x", k.Dest.Reloc.Sym.Name, k.Dest.Reloc.Addend)
		}
		head := fmt.Sprintf("krela %s type=%d addend=%d ext=%d obj=%s", dest, k.Type, k.Addend, k.External, kstr(k.ObjName))
		sym, ok := r.SymbolAt(k.KSym)
		if !ok {
			lines = append(lines, head+" -> ?")
			continue
		}
		lines = append(lines, fmt.Sprintf("%s -> sym=%s symobj=%s pos=%d bind=%d type=%d src=%#x", head,
			kstr(sym.Name), kstr(sym.ObjName), sym.Sympos, sym.Bind, sym.Type, sym.Src))
	}
	for _, c := range r.CallbackRecords() {
		fn := "?"
		if c.Fn.OK {
			fn = c.Fn.Reloc.Sym.Name
		}
		lines = append(lines, fmt.Sprintf("callback %s obj=%s fn=%s", c.Section.Name, kstr(c.ObjName), fn))
	}
	return lines
}

// byteOrder is the byte order of an object's data encoding.
// ByteOrder is the byte order of an object of data encoding d.
func ByteOrder(d elf.Data) binary.ByteOrder {
	if d == elf.ELFDATA2MSB {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
