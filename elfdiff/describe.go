package elfdiff

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

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
	bo := byteOrder(f.Data)
	strs := f.SectionByName(".kpatch.strings")
	relAt := func(sec *elfobj.Section) map[uint64]elfobj.Reloc {
		m := map[uint64]elfobj.Reloc{}
		if sec != nil && sec.Rela != nil {
			for _, r := range sec.Rela.Relocs {
				m[r.Offset] = r
			}
		}
		return m
	}
	kstr := func(m map[uint64]elfobj.Reloc, off uint64) string {
		r, ok := m[off]
		if !ok {
			return "?"
		}
		if strs != nil && r.Sym.Section == strs && r.Sym.Type == elf.STT_SECTION {
			if r.Addend >= 0 && r.Addend < int64(len(strs.Data)) {
				b := strs.Data[r.Addend:]
				end := 0
				for end < len(b) && b[end] != 0 {
					end++
				}
				return string(b[:end])
			}
		}
		return fmt.Sprintf("%s%+d", r.Sym.Name, r.Addend)
	}
	var lines []string
	if fs := f.SectionByName(".kpatch.funcs"); fs != nil {
		m := relAt(fs)
		for i := 0; (i+1)*kpatchFuncSize <= len(fs.Data); i++ {
			b := fs.Data[i*kpatchFuncSize:]
			base := uint64(i * kpatchFuncSize)
			newSym := "?"
			if r, ok := m[base]; ok {
				newSym = r.Sym.Name
			}
			lines = append(lines, fmt.Sprintf("kfunc %s obj=%s pos=%d old_addr=%#x old_size=%d new_size=%d new=%s",
				kstr(m, base+40), kstr(m, base+48), bo.Uint64(b[32:]), bo.Uint64(b[16:]), bo.Uint64(b[24:]), bo.Uint64(b[8:]), newSym))
		}
	}
	kr, ks := f.SectionByName(".kpatch.relocations"), f.SectionByName(".kpatch.symbols")
	if kr != nil && ks != nil {
		mr, ms := relAt(kr), relAt(ks)
		for i := 0; (i+1)*kpatchRelocSize <= len(kr.Data); i++ {
			b := kr.Data[i*kpatchRelocSize:]
			base := uint64(i * kpatchRelocSize)
			dest := "?"
			if r, ok := mr[base]; ok {
				dest = fmt.Sprintf("%s+%#x", r.Sym.Name, r.Addend)
			}
			head := fmt.Sprintf("krela %s type=%d addend=%d ext=%d obj=%s", dest, bo.Uint32(b[8:]), int64(bo.Uint64(b[16:])), int32(bo.Uint32(b[12:])), kstr(mr, base+24))
			k, ok := mr[base+32]
			if !ok || k.Addend < 0 || uint64(k.Addend)+kpatchSymSize > uint64(len(ks.Data)) {
				lines = append(lines, head+" -> ?")
				continue
			}
			ko := uint64(k.Addend)
			sb := ks.Data[ko:]
			lines = append(lines, fmt.Sprintf("%s -> sym=%s symobj=%s pos=%d bind=%d type=%d src=%#x", head,
				kstr(ms, ko+24), kstr(ms, ko+32), bo.Uint64(sb[8:]), sb[16], sb[17], bo.Uint64(sb[0:])))
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Base == nil || !strings.HasPrefix(s.Base.Name, ".kpatch.callbacks.") {
			continue
		}
		m := relAt(s.Base)
		fn := "?"
		if r, ok := m[0]; ok {
			fn = r.Sym.Name
		}
		lines = append(lines, fmt.Sprintf("callback %s obj=%s fn=%s", s.Base.Name, kstr(m, 8), fn))
	}
	return lines
}

// FuncSymbols lists the function symbols of an object as nm shows them
// (t local, T global, W weak), sorted as text like `nm | sort`: "t NAME".
func FuncSymbols(f *elfobj.File) []string {
	var out []string
	for _, s := range f.Symbols {
		if s.Section == nil || s.Type == elf.STT_SECTION || s.Type == elf.STT_FILE || s.Section.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		c := "t"
		switch s.Bind {
		case elf.STB_GLOBAL:
			c = "T"
		case elf.STB_WEAK:
			c = "W"
		}
		out = append(out, c+" "+s.Name)
	}
	sort.Strings(out)
	return out
}

// byteOrder is the byte order of an object's data encoding.
func byteOrder(d elf.Data) binary.ByteOrder {
	if d == elf.ELFDATA2MSB {
		return binary.BigEndian
	}
	return binary.LittleEndian
}
