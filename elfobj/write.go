package elfobj

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/worktree"
)

// Write lays out f as an ELF64 relocatable object and returns its bytes.
//
// Sections are written in list order and numbered from 1; symbols in list
// order (f.Symbols[0] must be the null symbol and locals must precede
// globals). The section name table, the symbol string table, the symbol
// table, SHT_SYMTAB_SHNDX, and every SHT_RELA and SHT_GROUP section are
// regenerated from the model; the Index fields of sections and symbols are
// updated to their new positions. The parts of the layout that still fit
// the object Read parsed (string tables, file offsets) are kept from it.
func (f *File) Write() ([]byte, error) {
	w := &writer{f: f}
	if err := w.prepare(); err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Name, err)
	}
	return w.layout(), nil
}

// WriteFile writes f to path atomically: the object is written to a
// temporary file in the same directory and renamed, so a failed write
// never leaves a partial output behind.
func (f *File) WriteFile(path string) error {
	b, err := f.Write()
	if err != nil {
		return err
	}
	return worktree.ReplaceFile(path, b, 0o644)
}

// byteOrder is what the writer needs of an encoding/binary byte order.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type writer struct {
	f        *File
	bo       byteOrder
	symtab   *Section
	strtab   *Section
	shstrtab *Section
	shndx    *Section
}

// strtabBuilder builds a string table with de-duplicated entries.
type strtabBuilder struct {
	data []byte
	off  map[string]uint32
}

func newStrtab() *strtabBuilder {
	return &strtabBuilder{data: []byte{0}, off: map[string]uint32{"": 0}}
}

func (b *strtabBuilder) add(s string) uint32 {
	if o, ok := b.off[s]; ok {
		return o
	}
	o := uint32(len(b.data))
	b.data = append(b.data, s...)
	b.data = append(b.data, 0)
	b.off[s] = o
	return o
}

func (w *writer) prepare() error {
	f := w.f
	if f.Data == elf.ELFDATA2MSB {
		w.bo = binary.BigEndian
	} else {
		w.bo = binary.LittleEndian
	}
	for _, s := range f.Sections {
		switch {
		case s.Type == elf.SHT_SYMTAB:
			if w.symtab != nil {
				return fmt.Errorf("more than one symbol table")
			}
			w.symtab = s
		case s.Type == elf.SHT_SYMTAB_SHNDX:
			w.shndx = s
		case s.Type == elf.SHT_STRTAB && s.Name == ".shstrtab":
			w.shstrtab = s
		case s.Type == elf.SHT_STRTAB && s.Name == ".strtab":
			w.strtab = s
		}
	}
	if w.symtab == nil {
		w.symtab = &Section{Name: ".symtab", Type: elf.SHT_SYMTAB}
		f.Sections = append(f.Sections, w.symtab)
	}
	if w.strtab == nil {
		w.strtab = &Section{Name: ".strtab", Type: elf.SHT_STRTAB}
		f.Sections = append(f.Sections, w.strtab)
	}
	if w.shstrtab == nil {
		w.shstrtab = &Section{Name: ".shstrtab", Type: elf.SHT_STRTAB}
		f.Sections = append(f.Sections, w.shstrtab)
	}
	// Number sections and symbols.
	for i, s := range f.Sections {
		s.Index = i + 1
	}
	if len(f.Symbols) == 0 || f.Symbols[0].Name != "" || f.Symbols[0].Section != nil {
		return fmt.Errorf("symbol 0 must be the null symbol")
	}
	needX := false
	for i, sym := range f.Symbols {
		sym.Index = i
		if sym.Section != nil && sym.Section.Index >= int(elf.SHN_LORESERVE) {
			needX = true
		}
	}
	if needX && w.shndx == nil {
		w.shndx = &Section{Name: ".symtab_shndx", Type: elf.SHT_SYMTAB_SHNDX, Align: 4, EntSize: 4}
		// Place it right after the symbol table.
		pos := w.symtab.Index
		f.Sections = append(f.Sections[:pos], append([]*Section{w.shndx}, f.Sections[pos:]...)...)
		for i, s := range f.Sections {
			s.Index = i + 1
		}
	}
	secOK := func(s *Section) bool {
		return s.Index >= 1 && s.Index <= len(f.Sections) && f.Sections[s.Index-1] == s
	}
	symOK := func(sym *Symbol) bool {
		return sym.Index >= 0 && sym.Index < len(f.Symbols) && f.Symbols[sym.Index] == sym
	}

	// Symbol table and its strings.
	strs := newStrtab()
	symData := make([]byte, 0, len(f.Symbols)*symSize)
	var xdata []byte
	if w.shndx != nil {
		xdata = make([]byte, 4*len(f.Symbols))
	}
	keepSyms := f.layout.symbolsKept(f, w.strtab)
	firstGlobal := len(f.Symbols)
	for i, sym := range f.Symbols {
		if sym.Bind == elf.STB_LOCAL {
			if firstGlobal < i {
				return fmt.Errorf("local symbol %d (%s) follows global symbol %d (%s)", i, sym.Name, firstGlobal, f.Symbols[firstGlobal].Name)
			}
		} else if firstGlobal == len(f.Symbols) {
			firstGlobal = i
		}
		var es elf.Sym64
		switch {
		case keepSyms:
			es.Name = f.layout.symNameOff[i]
		case sym.Type != elf.STT_SECTION:
			es.Name = strs.add(sym.Name)
		}
		es.Info = elf.ST_INFO(sym.Bind, sym.Type)
		es.Other = sym.Other
		es.Value = sym.Value
		es.Size = sym.Size
		if sym.Section != nil {
			if !secOK(sym.Section) {
				return fmt.Errorf("symbol %s: its section %s is not in the object", sym.Name, sym.Section.Name)
			}
			if sym.Section.Index >= int(elf.SHN_LORESERVE) {
				es.Shndx = uint16(elf.SHN_XINDEX)
				w.bo.PutUint32(xdata[4*i:], uint32(sym.Section.Index))
			} else {
				es.Shndx = uint16(sym.Section.Index)
			}
		} else {
			es.Shndx = uint16(sym.Shndx)
		}
		symData, _ = binary.Append(symData, w.bo, &es)
	}
	w.symtab.Data = symData
	w.symtab.Info = uint32(firstGlobal)
	w.symtab.EntSize = symSize
	if w.symtab.Align == 0 {
		w.symtab.Align = 8
	}
	w.strtab.Data = strs.data
	if keepSyms {
		w.strtab.Data = f.layout.strtabData
	}
	if w.strtab.Align == 0 {
		w.strtab.Align = 1
	}
	if w.shndx != nil {
		w.shndx.Data = xdata
		w.shndx.Link = uint32(w.symtab.Index)
	}
	w.symtab.Link = uint32(w.strtab.Index)

	// Relocations and groups.
	for _, s := range f.Sections {
		switch s.Type {
		case elf.SHT_RELA:
			if s.Base == nil || !secOK(s.Base) {
				return fmt.Errorf("relocation section %s: its target section is not in the object", s.Name)
			}
			d := make([]byte, 0, len(s.Relocs)*relaSize)
			for j, r := range s.Relocs {
				if r.Sym == nil || !symOK(r.Sym) {
					name := "<nil>"
					if r.Sym != nil {
						name = r.Sym.Name
					}
					return fmt.Errorf("relocation section %s: entry %d (offset %#x) references symbol %s, which is not in the symbol table", s.Name, j, r.Offset, name)
				}
				e := elf.Rela64{Off: r.Offset, Info: elf.R_INFO(uint32(r.Sym.Index), r.Type), Addend: r.Addend}
				d, _ = binary.Append(d, w.bo, &e)
			}
			s.Data = d
			s.Link = uint32(w.symtab.Index)
			s.Info = uint32(s.Base.Index)
			s.EntSize = relaSize
			if s.Align == 0 {
				s.Align = 8
			}
		case elf.SHT_GROUP:
			d := w.bo.AppendUint32(nil, s.GroupFlags)
			for _, m := range s.Members {
				if !secOK(m) {
					return fmt.Errorf("group section %s: member %s is not in the object", s.Name, m.Name)
				}
				d = w.bo.AppendUint32(d, uint32(m.Index))
			}
			s.Data = d
			s.Link = uint32(w.symtab.Index)
			if s.Signature == nil || !symOK(s.Signature) {
				return fmt.Errorf("group section %s: signature symbol is not in the symbol table", s.Name)
			}
			s.Info = uint32(s.Signature.Index)
		default:
			if s.LinkSection != nil {
				if !secOK(s.LinkSection) {
					return fmt.Errorf("section %s: linked section %s is not in the object", s.Name, s.LinkSection.Name)
				}
				s.Link = uint32(s.LinkSection.Index)
			}
		}
	}

	// Section names last: every section is known now.
	names := newStrtab()
	for _, s := range f.Sections {
		names.add(s.Name)
	}
	w.shstrtab.Data = names.data
	if f.layout.sectionsKept(f, w.shstrtab) {
		w.shstrtab.Data = f.layout.shstrData
	}
	if w.shstrtab.Align == 0 {
		w.shstrtab.Align = 1
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			s.Size = uint64(len(s.Data))
		}
		if s.Align&(s.Align-1) != 0 {
			return fmt.Errorf("section %s: alignment %#x is not a power of two", s.Name, s.Align)
		}
	}
	// Regenerated sections may have changed size: every relocation must
	// still lie inside its section, or the output would not read back.
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Base.Type == elf.SHT_NOBITS {
			continue
		}
		for j, r := range s.Relocs {
			if r.Offset >= s.Base.Size {
				return fmt.Errorf("relocation section %s: entry %d: offset %#x lies outside %s (size %#x)", s.Name, j, r.Offset, s.Base.Name, s.Base.Size)
			}
		}
	}
	return nil
}

// maxFileAlign bounds the alignment of section data in the file. A
// relocatable object's file offsets need not honour sh_addralign at all
// (sh_addralign itself is written unchanged); beyond this the padding
// would only waste space, and with absurd values, memory.
const maxFileAlign = 1 << 16

func align(off, a uint64) uint64 {
	a = min(a, maxFileAlign)
	if a <= 1 {
		return off
	}
	return (off + a - 1) / a * a
}

func (w *writer) layout() []byte {
	f := w.f
	nsec := len(f.Sections) + 1
	offs := make([]uint64, nsec)
	var shoff, total uint64
	var background []byte
	if l := f.layout; l.offsetsKept(f, w.shstrtab) {
		copy(offs[1:], l.secOffs)
		background = l.file
		shoff, total = l.shoff, max(uint64(len(l.file)), l.shoff+uint64(nsec)*shdrSize)
	} else {
		off := uint64(ehdrSize)
		for i, s := range f.Sections {
			if s.Type == elf.SHT_NOBITS {
				offs[i+1] = align(off, s.Align)
				continue
			}
			off = align(off, s.Align)
			offs[i+1] = off
			off += uint64(len(s.Data))
		}
		shoff = align(off, 8)
		total = shoff + uint64(nsec)*shdrSize
	}
	out := make([]byte, total)
	copy(out, background)

	names := newStrtab()
	nameOff := func(i int, s *Section) uint32 { return names.add(s.Name) }
	if f.layout.sectionsKept(f, w.shstrtab) {
		nameOff = func(i int, _ *Section) uint32 { return f.layout.secNameOff[i] }
	} else {
		// Recompute name offsets the same way prepare built .shstrtab.
		for i, s := range f.Sections {
			nameOff(i, s)
		}
	}

	var h elf.Header64
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(f.Data)
	if f.Data == elf.ELFDATANONE {
		h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	}
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h.Ident[elf.EI_OSABI] = byte(f.OSABI)
	h.Ident[elf.EI_ABIVERSION] = f.ABIVersion
	h.Type = uint16(elf.ET_REL)
	h.Machine = uint16(f.Machine)
	h.Version = uint32(elf.EV_CURRENT)
	h.Entry = f.Entry
	h.Flags = f.Flags
	h.Ehsize = ehdrSize
	h.Shentsize = shdrSize
	h.Shoff = shoff
	var s0 elf.Section64
	if nsec >= int(elf.SHN_LORESERVE) {
		h.Shnum = 0
		s0.Size = uint64(nsec)
	} else {
		h.Shnum = uint16(nsec)
	}
	if w.shstrtab.Index >= int(elf.SHN_LORESERVE) {
		h.Shstrndx = uint16(elf.SHN_XINDEX)
		s0.Link = uint32(w.shstrtab.Index)
	} else {
		h.Shstrndx = uint16(w.shstrtab.Index)
	}
	hb, _ := binary.Append(nil, w.bo, &h)
	copy(out, hb)
	sb, _ := binary.Append(nil, w.bo, &s0)
	copy(out[shoff:], sb)
	for i, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			copy(out[offs[i+1]:], s.Data)
		}
		sh := elf.Section64{
			Name:      nameOff(i, s),
			Type:      uint32(s.Type),
			Flags:     uint64(s.Flags),
			Addr:      s.Addr,
			Off:       offs[i+1],
			Size:      s.Size,
			Link:      s.Link,
			Info:      s.Info,
			Addralign: s.Align,
			Entsize:   s.EntSize,
		}
		b, _ := binary.Append(nil, w.bo, &sh)
		copy(out[shoff+uint64(i+1)*shdrSize:], b)
	}
	return out
}
