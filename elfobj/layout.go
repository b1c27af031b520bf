package elfobj

import "debug/elf"

// origLayout records how the object Read parsed was laid out: the string
// tables and the name offsets into them, the file offset of every
// section, and the section header table. Write reuses each part for as
// long as the model still matches what was read, so an object read and
// written unchanged comes back byte for byte, in either byte order, and
// a model that was edited gets a fresh layout for the parts that changed.
type origLayout struct {
	syms       []*Symbol
	symNames   []string
	symNameOff []uint32
	strtab     *Section
	strtabData []byte

	secs       []*Section
	secNames   []string
	secNameOff []uint32
	shstrtab   *Section
	shstrData  []byte

	secTypes []elf.SectionType
	secSizes []uint64
	secAlign []uint64
	secOffs  []uint64
	shoff    uint64
	// file is the whole input: bytes no section or header covers (padding,
	// anything a tool appended) are carried over from it.
	file []byte
}

// symbolsKept reports whether the symbol table still holds exactly the
// symbols read, under their names, with the same string table section.
func (l *origLayout) symbolsKept(f *File, strtab *Section) bool {
	if l == nil || l.strtab != strtab || len(f.Symbols) != len(l.syms) {
		return false
	}
	for i, sym := range f.Symbols {
		if sym != l.syms[i] || sym.Name != l.symNames[i] {
			return false
		}
	}
	return true
}

// sectionsKept reports whether the section list still holds exactly the
// sections read, in order, under their names.
func (l *origLayout) sectionsKept(f *File, shstrtab *Section) bool {
	if l == nil || l.shstrtab != shstrtab || len(f.Sections) != len(l.secs) {
		return false
	}
	for i, s := range f.Sections {
		if s != l.secs[i] || s.Name != l.secNames[i] {
			return false
		}
	}
	return true
}

// offsetsKept reports whether every section still has the type, size and
// alignment it was read with, so the original file offsets still fit.
func (l *origLayout) offsetsKept(f *File, shstrtab *Section) bool {
	if !l.sectionsKept(f, shstrtab) {
		return false
	}
	for i, s := range f.Sections {
		if s.Type != l.secTypes[i] || s.Size != l.secSizes[i] || s.Align != l.secAlign[i] {
			return false
		}
	}
	return true
}

// record fills f.layout from what the reader parsed.
func (r *reader) record(shoff uint64) {
	f := r.f
	l := &origLayout{shoff: shoff, file: r.b}
	for i, s := range f.Sections {
		sh := &r.hdrs[i+1]
		l.secs = append(l.secs, s)
		l.secNames = append(l.secNames, s.Name)
		l.secNameOff = append(l.secNameOff, sh.Name)
		l.secTypes = append(l.secTypes, s.Type)
		l.secSizes = append(l.secSizes, s.Size)
		l.secAlign = append(l.secAlign, s.Align)
		l.secOffs = append(l.secOffs, sh.Off)
	}
	l.shstrtab = r.secs[r.shstrndx]
	l.shstrData = l.shstrtab.Data
	if r.symtab != nil {
		l.strtab = r.secs[r.symtab.Link]
		l.strtabData = l.strtab.Data
		for i, sym := range f.Symbols {
			l.syms = append(l.syms, sym)
			l.symNames = append(l.symNames, sym.Name)
			l.symNameOff = append(l.symNameOff, r.bo.Uint32(r.symtab.Data[i*symSize:]))
		}
	}
	f.layout = l
}
