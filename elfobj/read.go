package elfobj

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

const (
	ehdrSize = 64
	shdrSize = 64
	symSize  = 24
	relaSize = 24
)

// Open reads the relocatable object at path.
func Open(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Read(path, b)
}

// Read parses an ELF64 relocatable object from b. name is used in errors.
// The returned File keeps references into b for section data.
func Read(name string, b []byte) (*File, error) {
	r := &reader{f: &File{Name: name}, b: b}
	if err := r.read(); err != nil {
		return nil, err
	}
	return r.f, nil
}

type reader struct {
	f     *File
	b     []byte
	bo    binary.ByteOrder
	secs  []*Section // by index, including the null section (nil)
	hdrs  []elf.Section64
	names []uint32
	// shstrndx and symtab are kept for the layout record.
	shstrndx int
	symtab   *Section
}

// errf returns a FormatError about what; a %w in format becomes its cause.
func (r *reader) errf(what, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &FormatError{File: r.f.Name, What: what, Msg: err.Error(), Err: errors.Unwrap(err)}
}

func secWhat(i int, s *Section) string {
	if s == nil || s.Name == "" {
		return fmt.Sprintf("section %d", i)
	}
	return fmt.Sprintf("section %d (%s)", i, s.Name)
}

// hdrWhat names the ELF header in errors.
const hdrWhat = "ELF header"

// machineOrder is the byte order of machines that have only one; an
// object claiming the other cannot be valid.
var machineOrder = map[elf.Machine]elf.Data{
	elf.EM_X86_64:    elf.ELFDATA2LSB,
	elf.EM_386:       elf.ELFDATA2LSB,
	elf.EM_LOONGARCH: elf.ELFDATA2LSB,
	elf.EM_RISCV:     elf.ELFDATA2LSB,
	elf.EM_S390:      elf.ELFDATA2MSB,
	elf.EM_SPARCV9:   elf.ELFDATA2MSB,
}

func endianName(d elf.Data) string {
	if d == elf.ELFDATA2MSB {
		return "big-endian"
	}
	return "little-endian"
}

func swap16(v uint16) uint16 { return v>>8 | v<<8 }

// maxAlign bounds sh_addralign: larger values are refused rather than
// honoured with gigabytes of padding.
const maxAlign = 1 << 32

func (r *reader) read() error {
	b := r.b
	f := r.f
	if len(b) == 0 {
		return r.errf("", "empty file, not an ELF object")
	}
	magic := []byte(elf.ELFMAG)
	if len(b) < len(magic) && bytes.HasPrefix(magic, b) {
		return r.errf(hdrWhat, "truncated: the file is only %d bytes long", len(b))
	}
	if !bytes.HasPrefix(b, magic) {
		return r.errf("", "not an ELF object (bad magic %q)", b[:min(len(b), len(magic))])
	}
	if len(b) < elf.EI_NIDENT {
		return r.errf(hdrWhat, "truncated: the file is only %d bytes long", len(b))
	}
	switch elf.Class(b[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return r.errf(hdrWhat, "32-bit ELF objects are not supported (EI_CLASS is ELFCLASS32)")
	default:
		return r.errf(hdrWhat, "unknown ELF class %d (EI_CLASS)", b[elf.EI_CLASS])
	}
	switch elf.Data(b[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		r.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		r.bo = binary.BigEndian
	default:
		return r.errf(hdrWhat, "unknown ELF data encoding %d (EI_DATA)", b[elf.EI_DATA])
	}
	if len(b) < ehdrSize {
		return r.errf(hdrWhat, "truncated: the file is only %d bytes long, the header needs %d", len(b), ehdrSize)
	}
	var h elf.Header64
	if _, err := binary.Decode(b[:ehdrSize], r.bo, &h); err != nil {
		return r.errf(hdrWhat, "%w", err)
	}
	f.Data = elf.Data(b[elf.EI_DATA])
	f.OSABI = elf.OSABI(b[elf.EI_OSABI])
	f.ABIVersion = b[elf.EI_ABIVERSION]
	f.Type = elf.Type(h.Type)
	f.Machine = elf.Machine(h.Machine)
	f.Version = h.Version
	f.Entry = h.Entry
	f.Flags = h.Flags
	f.PhNum = int(h.Phnum)
	if (h.Type != uint16(elf.ET_REL) && swap16(h.Type) == uint16(elf.ET_REL)) ||
		(h.Shentsize != shdrSize && swap16(h.Shentsize) == shdrSize) {
		other := elf.ELFDATA2LSB
		if f.Data == elf.ELFDATA2LSB {
			other = elf.ELFDATA2MSB
		}
		return r.errf(hdrWhat, "EI_DATA says %s, but the header fields only make sense %s (e_type %#x, e_shentsize %#x): corrupt byte order",
			endianName(f.Data), endianName(other), h.Type, h.Shentsize)
	}
	if f.Type != elf.ET_REL {
		return r.errf(hdrWhat, "not a relocatable object (e_type %v): an executable, shared object or core file cannot be diffed", f.Type)
	}
	if want, ok := machineOrder[f.Machine]; ok && want != f.Data {
		return r.errf(hdrWhat, "%s object for machine %v, which is %s only", endianName(f.Data), f.Machine, endianName(want))
	}
	if h.Shoff == 0 {
		return r.errf(hdrWhat, "no section header table (e_shoff is 0)")
	}
	if h.Shentsize != shdrSize {
		return r.errf(hdrWhat, "section header entry size %d, want %d", h.Shentsize, shdrSize)
	}
	shnum := uint64(h.Shnum)
	shstrndx := uint64(h.Shstrndx)
	if h.Shoff > uint64(len(b)) || uint64(len(b))-h.Shoff < shdrSize {
		return r.errf(hdrWhat, "section header table at offset %#x lies outside the file (%d bytes): truncated or corrupt", h.Shoff, len(b))
	}
	if shnum == 0 || shstrndx == uint64(elf.SHN_XINDEX) {
		// Extended numbering: the real values live in section 0.
		var s0 elf.Section64
		binary.Decode(b[h.Shoff:h.Shoff+shdrSize], r.bo, &s0)
		if shnum == 0 {
			shnum = s0.Size
		}
		if shstrndx == uint64(elf.SHN_XINDEX) {
			shstrndx = uint64(s0.Link)
		}
	}
	if shnum == 0 {
		return r.errf(hdrWhat, "no sections")
	}
	if shnum > (uint64(len(b))-h.Shoff)/shdrSize {
		return r.errf(hdrWhat, "section header table (%d entries at %#x) runs past the end of the file (%d bytes): truncated", shnum, h.Shoff, len(b))
	}
	if shstrndx == 0 || shstrndx >= shnum {
		return r.errf(hdrWhat, "section name table index e_shstrndx %d out of range (%d sections)", shstrndx, shnum)
	}
	n := int(shnum)
	r.shstrndx = int(shstrndx)
	r.hdrs = make([]elf.Section64, n)
	r.secs = make([]*Section, n)
	for i := 0; i < n; i++ {
		off := h.Shoff + uint64(i)*shdrSize
		r.hdrs[i] = r.shdr(b[off : off+shdrSize])
	}
	// The section name table first, so that every later error can name
	// its section.
	if typ := elf.SectionType(r.hdrs[shstrndx].Type); typ != elf.SHT_STRTAB {
		return r.errf(secWhat(int(shstrndx), nil), "section name table (e_shstrndx) is %v, not SHT_STRTAB", typ)
	}
	shstr, err := r.data(int(shstrndx), nil)
	if err != nil {
		return err
	}
	for i := 1; i < n; i++ {
		sh := &r.hdrs[i]
		name, ok := cstring(shstr, sh.Name)
		if !ok {
			return r.errf(secWhat(i, nil), "name offset %#x outside the section name table", sh.Name)
		}
		s := &Section{
			Name:    name,
			Type:    elf.SectionType(sh.Type),
			Flags:   elf.SectionFlag(sh.Flags),
			Addr:    sh.Addr,
			Align:   sh.Addralign,
			EntSize: sh.Entsize,
			Link:    sh.Link,
			Info:    sh.Info,
			Size:    sh.Size,
			Index:   i,
		}
		if s.Align&(s.Align-1) != 0 || s.Align > maxAlign {
			return r.errf(secWhat(i, s), "sh_addralign %#x is not a power of two up to %#x", s.Align, uint64(maxAlign))
		}
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL {
			if s.Data, err = r.data(i, s); err != nil {
				return err
			}
		}
		r.secs[i] = s
		f.Sections = append(f.Sections, s)
	}
	if err := r.readSymbols(); err != nil {
		return err
	}
	for i := 1; i < n; i++ {
		s := r.secs[i]
		var err error
		switch s.Type {
		case elf.SHT_RELA:
			err = r.readRela(i, s)
		case elf.SHT_REL:
			err = r.errf(secWhat(i, s), "SHT_REL relocations are not supported")
		case elf.SHT_GROUP:
			err = r.readGroup(i, s)
		default:
			if s.Flags&elf.SHF_LINK_ORDER != 0 && s.Link != 0 {
				if int(s.Link) >= n {
					err = r.errf(secWhat(i, s), "sh_link %d out of range", s.Link)
				} else {
					s.LinkSection = r.secs[s.Link]
				}
			}
		}
		if err != nil {
			return err
		}
	}
	r.record(h.Shoff)
	return nil
}

// data returns the contents of section i, checked against the file size.
func (r *reader) data(i int, s *Section) ([]byte, error) {
	sh := &r.hdrs[i]
	if sh.Off > uint64(len(r.b)) || sh.Size > uint64(len(r.b))-sh.Off {
		return nil, r.errf(secWhat(i, s), "data (offset %#x, size %#x) lies outside the file (%d bytes): truncated or corrupt", sh.Off, sh.Size, len(r.b))
	}
	return r.b[sh.Off : sh.Off+sh.Size : sh.Off+sh.Size], nil
}

// cstring returns the NUL-terminated string at off in tab.
func cstring(tab []byte, off uint32) (string, bool) {
	if uint64(off) >= uint64(len(tab)) {
		return "", off == 0 && len(tab) == 0
	}
	end := bytes.IndexByte(tab[off:], 0)
	if end < 0 {
		return "", false
	}
	return string(tab[off : int(off)+end]), true
}

// symWhat names symbol i of the symbol table in errors.
func symWhat(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("symbol table entry %d", i)
	}
	return fmt.Sprintf("symbol table entry %d (%s)", i, name)
}

func (r *reader) readSymbols() error {
	var symtab *Section
	var symIdx int
	for i, s := range r.secs {
		if s != nil && s.Type == elf.SHT_SYMTAB {
			if symtab != nil {
				return r.errf(secWhat(i, s), "more than one symbol table")
			}
			symtab, symIdx = s, i
		}
	}
	if symtab == nil {
		return r.errf("", "no symbol table: no SHT_SYMTAB section (.symtab)")
	}
	r.symtab = symtab
	what := secWhat(symIdx, symtab)
	if len(symtab.Data)%symSize != 0 {
		return r.errf(what, "size %d is not a multiple of %d", len(symtab.Data), symSize)
	}
	if symtab.Link == 0 || uint64(symtab.Link) >= uint64(len(r.secs)) {
		return r.errf(what, "sh_link %d (the symbol string table) out of range (%d sections)", symtab.Link, len(r.secs))
	}
	if t := r.secs[symtab.Link].Type; t != elf.SHT_STRTAB {
		return r.errf(what, "sh_link %d (the symbol string table) is %v, not SHT_STRTAB", symtab.Link, t)
	}
	strtab := r.secs[symtab.Link].Data
	var shndxTab []byte
	for i, s := range r.secs {
		if s != nil && s.Type == elf.SHT_SYMTAB_SHNDX && int(s.Link) == symIdx {
			shndxTab = s.Data
			if len(shndxTab) != len(symtab.Data)/symSize*4 {
				return r.errf(secWhat(i, s), "size %d does not match %d symbols", len(shndxTab), len(symtab.Data)/symSize)
			}
		}
	}
	nsym := len(symtab.Data) / symSize
	if nsym == 0 {
		return r.errf(what, "empty symbol table")
	}
	r.f.Symbols = make([]*Symbol, nsym)
	all := make([]Symbol, nsym)
	for i := 0; i < nsym; i++ {
		d := symtab.Data[i*symSize:]
		es := r.sym(d[:symSize])
		sym := &all[i]
		sym.Index = i
		sym.Type = elf.ST_TYPE(es.Info)
		sym.Bind = elf.ST_BIND(es.Info)
		sym.Other = es.Other
		sym.Value = es.Value
		sym.Size = es.Size
		shndx := uint32(es.Shndx)
		if elf.SectionIndex(es.Shndx) == elf.SHN_XINDEX {
			if shndxTab == nil {
				name, _ := cstring(strtab, es.Name)
				return r.errf(symWhat(i, name), "SHN_XINDEX without a SHT_SYMTAB_SHNDX section")
			}
			shndx = r.bo.Uint32(shndxTab[i*4:])
		} else if es.Shndx >= uint16(elf.SHN_LORESERVE) {
			sym.Shndx = elf.SectionIndex(es.Shndx)
			shndx = 0
		}
		if shndx != 0 {
			if uint64(shndx) >= uint64(len(r.secs)) {
				name, _ := cstring(strtab, es.Name)
				return r.errf(symWhat(i, name), "section index st_shndx %d out of range (%d sections)", shndx, len(r.secs))
			}
			sym.Section = r.secs[shndx]
		}
		if sym.Type == elf.STT_SECTION && sym.Section != nil {
			sym.Name = sym.Section.Name
			if sym.Section.Sym == nil {
				sym.Section.Sym = sym
			}
		} else {
			name, ok := cstring(strtab, es.Name)
			if !ok {
				return r.errf(symWhat(i, ""), "name offset %#x outside the symbol string table", es.Name)
			}
			sym.Name = name
		}
		r.f.Symbols[i] = sym
	}
	return nil
}

func (r *reader) readRela(i int, s *Section) error {
	what := secWhat(i, s)
	if len(s.Data)%relaSize != 0 {
		return r.errf(what, "size %d is not a multiple of %d", len(s.Data), relaSize)
	}
	if s.Info == 0 || int(s.Info) >= len(r.secs) {
		return r.errf(what, "sh_info %d (the section it applies to) out of range (%d sections)", s.Info, len(r.secs))
	}
	s.Base = r.secs[s.Info]
	if s.Base.Rela == nil {
		s.Base.Rela = s
	}
	base := s.Base
	n := len(s.Data) / relaSize
	s.Relocs = make([]Reloc, n)
	for j := 0; j < n; j++ {
		e := r.rela(s.Data[j*relaSize : (j+1)*relaSize])
		si := elf.R_SYM64(e.Info)
		if uint64(si) >= uint64(len(r.f.Symbols)) {
			return r.errf(what, "relocation %d (offset %#x): symbol index %d out of range (%d symbols in the symbol table)", j, e.Off, si, len(r.f.Symbols))
		}
		// Data, not Size: an SHT_NULL section has a size but no data.
		if base.Type != elf.SHT_NOBITS && e.Off >= uint64(len(base.Data)) {
			return r.errf(what, "relocation %d: offset %#x lies outside its section %s (size %#x)", j, e.Off, base.Name, len(base.Data))
		}
		s.Relocs[j] = Reloc{Offset: e.Off, Type: elf.R_TYPE64(e.Info), Sym: r.f.Symbols[si], Addend: int64(e.Addend)}
	}
	return nil
}

func (r *reader) readGroup(i int, s *Section) error {
	what := secWhat(i, s)
	if len(s.Data) < 4 || len(s.Data)%4 != 0 {
		return r.errf(what, "size %d is not a positive multiple of 4", len(s.Data))
	}
	s.GroupFlags = r.bo.Uint32(s.Data)
	for off := 4; off < len(s.Data); off += 4 {
		m := r.bo.Uint32(s.Data[off:])
		if m == 0 || int(m) >= len(r.secs) {
			return r.errf(what, "member section index %d out of range", m)
		}
		s.Members = append(s.Members, r.secs[m])
		r.secs[m].Group = s
	}
	if int(s.Info) >= len(r.f.Symbols) {
		return r.errf(what, "signature symbol index %d out of range", s.Info)
	}
	s.Signature = r.f.Symbols[s.Info]
	return nil
}

// shdr, sym and rela decode fixed-layout records without reflection.
func (r *reader) shdr(b []byte) elf.Section64 {
	bo := r.bo
	return elf.Section64{Name: bo.Uint32(b[0:]), Type: bo.Uint32(b[4:]), Flags: bo.Uint64(b[8:]), Addr: bo.Uint64(b[16:]),
		Off: bo.Uint64(b[24:]), Size: bo.Uint64(b[32:]), Link: bo.Uint32(b[40:]), Info: bo.Uint32(b[44:]),
		Addralign: bo.Uint64(b[48:]), Entsize: bo.Uint64(b[56:])}
}

func (r *reader) sym(b []byte) elf.Sym64 {
	bo := r.bo
	return elf.Sym64{Name: bo.Uint32(b[0:]), Info: b[4], Other: b[5], Shndx: bo.Uint16(b[6:]), Value: bo.Uint64(b[8:]), Size: bo.Uint64(b[16:])}
}

func (r *reader) rela(b []byte) elf.Rela64 {
	bo := r.bo
	return elf.Rela64{Off: bo.Uint64(b[0:]), Info: bo.Uint64(b[8:]), Addend: int64(bo.Uint64(b[16:]))}
}
