package elfobj

import (
	"debug/elf"
	"fmt"
)

// File is an ELF64 relocatable object.
type File struct {
	// Name is the path the object was read from, used in error messages.
	Name string
	// Header fields kept from the input.
	Data       elf.Data
	OSABI      elf.OSABI
	ABIVersion uint8
	Type       elf.Type
	Machine    elf.Machine
	Version    uint32
	Entry      uint64
	Flags      uint32
	// PhNum is the number of program headers of the input (always 0 for
	// a well-formed relocatable object; kept so callers can refuse it).
	PhNum int

	// Sections in file order, without the null section at index 0.
	Sections []*Section
	// Symbols in symbol table order, including the null symbol at index 0.
	Symbols []*Symbol

	// layout is the file layout Read found, which Write reuses while the
	// model still fits it (see layout.go).
	layout *origLayout
}

// Section is one section of an object.
type Section struct {
	Name    string
	Type    elf.SectionType
	Flags   elf.SectionFlag
	Addr    uint64
	Align   uint64
	EntSize uint64
	// Data holds the contents; for SHT_NOBITS it is nil and Size is used.
	Data []byte
	// Size is the section size; for all but SHT_NOBITS it equals len(Data)
	// after Read and is recomputed by Write.
	Size uint64
	// Link and Info are the raw header values for section types whose
	// meaning this package does not model. For SHT_RELA, SHT_SYMTAB and
	// SHT_GROUP they are derived from the pointers below on Write.
	Link, Info uint32

	// Index is the section's index in the file it was read from (or the
	// index Write gave it).
	Index int

	// Relocs are the entries of an SHT_RELA section.
	Relocs []Reloc
	// Base is the section an SHT_RELA section applies to (sh_info).
	Base *Section
	// Rela is the SHT_RELA section that applies to this section, if any.
	Rela *Section
	// LinkSection is the section named by sh_link, for sections whose
	// link is a section index (SHF_LINK_ORDER and similar).
	LinkSection *Section
	// Sym is the section's STT_SECTION symbol, if it has one.
	Sym *Symbol

	// GroupFlags and Members describe an SHT_GROUP section; Signature is
	// the symbol named by sh_info.
	GroupFlags uint32
	Members    []*Section
	Signature  *Symbol
	// Group is the SHT_GROUP section this section belongs to, if any.
	Group *Section
}

// Reloc is one relocation entry of an SHT_RELA section.
type Reloc struct {
	Offset uint64
	Type   uint32
	Sym    *Symbol
	Addend int64
}

// Symbol is one entry of the symbol table.
type Symbol struct {
	// Name is the symbol's name; a STT_SECTION symbol takes the name of
	// its section, as readelf and nm show it.
	Name  string
	Type  elf.SymType
	Bind  elf.SymBind
	Other uint8
	// Shndx is the raw section index for symbols without a Section:
	// SHN_UNDEF, SHN_ABS, SHN_COMMON or a processor- or OS-specific
	// index such as SHN_LIVEPATCH. It is ignored when Section is set.
	Shndx elf.SectionIndex
	// Section is the section that defines the symbol, if any.
	Section *Section
	Value   uint64
	Size    uint64

	// Index is the symbol's index in the table it was read from (or the
	// index Write gave it).
	Index int
}

// SHNLivepatch is the section index the livepatch core gives symbols it
// resolves at patch time (SHN_LIVEPATCH in Linux).
const SHNLivepatch elf.SectionIndex = 0xff20

// SHFRelaLivepatch marks a relocation section the livepatch core applies
// (SHF_RELA_LIVEPATCH in Linux).
const SHFRelaLivepatch elf.SectionFlag = 0x00100000

// IsRela reports whether s is an SHT_RELA section.
func (s *Section) IsRela() bool { return s.Type == elf.SHT_RELA }

// Defined reports whether the symbol is defined in a section of the object.
func (sym *Symbol) Defined() bool { return sym.Section != nil }

// SectionByName returns the first section with the given name, or nil.
func (f *File) SectionByName(name string) *Section {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SymbolByName returns the first symbol with the given name, or nil.
func (f *File) SymbolByName(name string) *Symbol {
	for _, s := range f.Symbols {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// FormatError reports a malformed object: the file and, when known, the
// element that is wrong.
type FormatError struct {
	File string
	What string // the element, e.g. "section 12 (.rela.text)"
	Msg  string
	Err  error // the cause, if any (errors.Is and errors.As see through it)
}

// Error returns the file, the element and what is wrong.
func (e *FormatError) Error() string {
	if e.What == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.What, e.Msg)
}

// Unwrap returns the cause.
func (e *FormatError) Unwrap() error { return e.Err }
