package elfdiff

import (
	"debug/elf"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// Status is the outcome of comparing one element with its twin.
type Status int

// The statuses of sections and symbols.
const (
	Same Status = iota
	Changed
	New
)

// String returns same, changed or new.
func (s Status) String() string {
	switch s {
	case Changed:
		return "changed"
	case New:
		return "new"
	}
	return "same"
}

// object is one input object with the engine's per-element state.
type object struct {
	file  *elfobj.File
	name  string // short name for messages
	secs  []*section
	syms  []*symbol
	symOf map[*elfobj.Symbol]*symbol
	// bySec lists the symbols defined in each section, in table order.
	bySec map[*section][]*symbol
}

type section struct {
	*elfobj.Section
	twin    *section
	status  Status
	include bool
	ignore  bool
	grouped bool
	secsym  *symbol
	bundled *symbol
	base    *section // for rela sections
	rela    *section // for sections with relocations
	relas   []*rela
	insns   *relocs.Insns
	decoded bool
	// why records the reason a section was included (for the report).
	why string
	// origName is the name the section had in its own object.
	origName string
}

type rela struct {
	off    uint64
	typ    uint32
	sym    *symbol
	addend int64
	// str is the string a relocation into an SHF_STRINGS section
	// designates; hasStr tells whether it does.
	str    string
	hasStr bool
	// klp is set when the relocation becomes a livepatch relocation.
	klp *klpReloc
	// ppc64le: viaTOC marks a load through a .toc entry; toc is that
	// entry's relocation (nil for a constant entry, whose value is
	// tocConst); forceKLP makes a .toc entry a livepatch relocation.
	viaTOC, forceKLP bool
	toc              *rela
	tocConst         uint64
}

type symbol struct {
	*elfobj.Symbol
	sec       *section
	twin      *symbol
	status    Status
	include   bool
	strip     bool
	hasFentry bool
	// localEntry (ppc64le): the function follows a TOC offset word.
	localEntry bool
	// mcount (ppc64le) is the relocation of the function's _mcount call.
	mcount *rela
	// entrySite is the section offset of the function's first patchable
	// NOP (EntryPatchable architectures, when hasFentry).
	entrySite uint64
	isPfx     bool
	pfx       *symbol
	// padding is the size of the NOP padding before the function in its
	// section when no prefix symbol covers it (relocs.Arch.PaddingNop).
	padding  uint64
	parent   *symbol
	children []*symbol
	// file is the index of the FILE block (in the ORIG object's symbol
	// table) this symbol belongs to, for parent symbol lookup; -1 when
	// unknown (new symbols).
	file int
	// why records the reason a symbol is in the output.
	why string
	// origName is the name the symbol had in its own object.
	origName string
	// special caches isSpecialStatic (names and bundling are fixed by
	// the time it is first asked).
	special, specialKnown bool
}

func (s *section) isRela() bool { return s.Type == elf.SHT_RELA }

func (s *section) isText() bool {
	return s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0
}

func (s *section) isDebug() bool {
	n := s.Name
	if s.isRela() && s.base != nil {
		n = s.base.Name
	}
	return strings.HasPrefix(n, ".debug_") || strings.HasPrefix(n, ".eh_frame")
}

func (s *section) isString() bool { return s.Flags&elf.SHF_STRINGS != 0 }

// isStringLiteral reports whether the section holds string literals
// (.rodata.str1.1 and friends), which the output includes whole.
func isStringLiteralName(n string) bool {
	return strings.HasPrefix(n, ".rodata.") && strings.Contains(n, ".str")
}

func (s *symbol) isFunc() bool { return s.Type == elf.STT_FUNC }

func (s *symbol) isLocal() bool { return s.Bind == elf.STB_LOCAL }

func newObject(f *elfobj.File, name string) *object {
	o := &object{file: f, name: name, symOf: make(map[*elfobj.Symbol]*symbol, len(f.Symbols)), bySec: map[*section][]*symbol{}}
	secOf := make(map[*elfobj.Section]*section, len(f.Sections))
	for _, es := range f.Sections {
		s := &section{Section: es, origName: es.Name}
		secOf[es] = s
		o.secs = append(o.secs, s)
	}
	for _, s := range o.secs {
		if s.Base != nil {
			s.base = secOf[s.Base]
		}
		if s.Rela != nil {
			s.rela = secOf[s.Rela]
		}
	}
	o.syms = make([]*symbol, len(f.Symbols))
	for i, es := range f.Symbols {
		sym := &symbol{Symbol: es, file: -1, origName: es.Name}
		if es.Section != nil {
			sym.sec = secOf[es.Section]
			if es.Type == elf.STT_SECTION && sym.sec.secsym == nil {
				sym.sec.secsym = sym
			}
			o.bySec[sym.sec] = append(o.bySec[sym.sec], sym)
		}
		o.syms[i] = sym
		o.symOf[es] = sym
	}
	for _, s := range o.secs {
		if !s.isRela() {
			continue
		}
		s.relas = make([]*rela, len(s.Relocs))
		all := make([]rela, len(s.Relocs))
		for i, r := range s.Relocs {
			all[i] = rela{off: r.Offset, typ: r.Type, sym: o.symOf[r.Sym], addend: r.Addend}
			s.relas[i] = &all[i]
		}
	}
	return o
}

func (o *object) section(name string) *section {
	for _, s := range o.secs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (o *object) symbol(name string) *symbol {
	for _, s := range o.syms {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// insns returns the decoded instruction layout of a text section.
func (s *section) text(a *relocs.Arch) (*relocs.Insns, error) {
	if s.decoded {
		return s.insns, nil
	}
	s.decoded = true
	if !s.isText() {
		return nil, nil
	}
	in, err := a.DecodeText(s.Data)
	if err != nil {
		return nil, err
	}
	s.insns = in
	return in, nil
}
