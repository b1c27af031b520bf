package relocs

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strings"
)

// Arch is everything the diff engine and the module writer need to know
// about one architecture, as tables and functions. ForMachine chooses it
// from an object's e_machine; one file per architecture fills it in.
type Arch struct {
	// Name is the architecture's usual name (x86_64, aarch64, ...).
	Name string
	// Machine is the ELF e_machine the architecture's objects carry.
	Machine elf.Machine
	// Data is the byte order of the architecture's kernel objects.
	Data elf.Data
	// PtrSize is the size of a pointer in bytes.
	PtrSize int
	// Abs64 is the relocation type of a 64-bit absolute pointer, used for
	// every pointer the module writer emits (.kpatch.* records,
	// __mcount_loc).
	Abs64 uint32
	// Types is the relocation table, by type number. A type missing from
	// it is carried through unchanged inside the module, but TargetOffset
	// refuses it in text and it never becomes a klp relocation.
	Types map[uint32]Reloc
	// Entry tells how a function's patchable (ftrace) entry is recognized.
	Entry Entry
	// InsnLen, when set, is the fixed instruction length in bytes (0 when
	// lengths vary and Decode must be used).
	InsnLen int
	// Decode returns the instruction layout of a text section, for
	// TargetOffset (FromInsnEnd types) and the line-macro check. Nil when
	// neither needs it: TargetOffset then returns the addend.
	Decode func(text []byte) (*Insns, error)
	// LineArgLoad, when set, reports whether an instruction only loads an
	// immediate into a WARN-style macro's line-number argument register,
	// so a change of __LINE__ alone is recognized. Nil: never.
	LineArgLoad func(insn []byte) bool
	// LineMacroFuncs, when set, are the only functions whose line-number
	// argument may change alone (nil: the engine's default list).
	LineMacroFuncs []string
	// MappingSymbols are the names of the architecture's mapping symbols
	// (arm64 $x and $d, optionally followed by "." and a suffix), which
	// mark code and data within a section and are never correlated or
	// used as relocation targets.
	MappingSymbols []string
	// FoldLocalLabels is set when relocations reference local NOTYPE
	// labels the assembler kept (.LC0, .LPFE1 on loongarch): each such
	// reference is folded into the label's section symbol plus the
	// label's offset, and the labels are dropped, so relocations compare
	// and are replaced like section-symbol references.
	FoldLocalLabels bool
	// PrefixSymbols lists the name prefixes of padding symbols placed just
	// before a function and tied to it (__pfx_, __cfi_ on x86-64).
	PrefixSymbols []string
	// PaddingNop is the instruction a function's padding is made of
	// (x86-64's one-byte NOP): kernels built with CALL_PADDING compile
	// every function with -fpatchable-function-entry=N,N, so N NOPs
	// precede the function's symbol in its section. They get their
	// __pfx_ symbol only when objtool runs, which kernels with IBT do at
	// link time, so a compiled object has a function at offset N of its
	// section with only these NOPs before it: the padding belongs to the
	// function and travels with it. Nil: functions start their sections.
	PaddingNop []byte
	// IgnoredSections are sections dropped from the comparison and the
	// output because the architecture's output does not need them.
	IgnoredSections []string
	// RestoreCall, when set, turns a nop'ed entry call site back into a
	// call: it is given the function's section data and its first
	// relocation, and returns the new type, or ok=false to leave it.
	RestoreCall func(data []byte, off uint64, typ uint32) (newType uint32, ok bool)
	// NormalSymbols are name prefixes of symbols every reference to which
	// stays a normal relocation, resolved when the patch module is linked
	// or loaded (s390x's expoline thunks, which the kernel exports).
	NormalSymbols []string

	// Hardening, when set, is what the architecture's control-flow
	// hardening asks of a module's code (module.CheckHardening).
	Hardening *Hardening

	// unsupported is the error every use of a stub returns.
	unsupported error
}

// Hardening describes the control-flow hardening a kernel may be built
// with, as far as a module's code must follow it: x86-64's indirect
// branch tracking (IBT: every function entered by an indirect branch
// starts with ENDBR64) and return thunks (every return is a jump to the
// return thunk, listed in .return_sites so the module loader can patch
// it to the mitigation the CPU needs).
type Hardening struct {
	// Landing is the instruction an indirect branch must land on.
	Landing []byte
	// ReturnThunk is the symbol returns jump to.
	ReturnThunk string
	// Return reports whether an instruction is a bare return.
	Return func(insn []byte) bool
	// DirectBranch reports whether an instruction is a direct call or
	// jump, whose relocated operand is a branch target rather than an
	// address taken.
	DirectBranch func(insn []byte) bool
}

// Padding reports whether b, the bytes of a section before a function's
// symbol, are all padding NOPs (not when b is empty).
func (a *Arch) Padding(b []byte) bool {
	n := len(a.PaddingNop)
	if n == 0 || len(b) == 0 || len(b)%n != 0 {
		return false
	}
	for i := 0; i < len(b); i += n {
		if !bytes.Equal(b[i:i+n], a.PaddingNop) {
			return false
		}
	}
	return true
}

// Reloc describes one relocation type.
type Reloc struct {
	// Name is the ELF name of the type (R_X86_64_PC32).
	Name string
	// Size is the size in bytes of the field the relocation writes (0 for
	// a type that writes nothing).
	Size int
	// PCRel is set when the value is relative to the place.
	PCRel bool
	// FromInsnEnd is set for PC-relative types whose target lies at the
	// addend plus the distance from the field to the end of its
	// instruction (x86-64's "call foo-4" designates foo+0).
	FromInsnEnd bool
	// Absolute is set when the field holds the target's address itself.
	Absolute bool
	// KLP is set when the type may become a livepatch relocation.
	KLP bool
	// SectionRef is set when a reference through a section symbol with
	// this type must be rewritten into a reference to the symbol it lands
	// in, even at the very end of that symbol (an end-of-function pointer
	// held in text).
	SectionRef bool
	// Opaque is set when the addend does not designate a place within the
	// symbol (GOT-relative and 64-bit PC-relative forms); TargetOffset
	// refuses it in text.
	Opaque bool
	// KeepsOriginal is set when an absolute pointer to an existing function
	// of this type must keep designating the running kernel's original
	// (it becomes a livepatch relocation instead of pointing at the copy).
	KeepsOriginal bool
	// Direct is set when the field holds the value itself: S+A, or S+A-P
	// when PCRel, in Size bytes of the architecture's byte order, so a
	// module loader applies the type with Arch.Field (x86-64's module
	// types).
	Direct bool
	// Unsigned is set when a Direct field narrower than 8 bytes holds an
	// unsigned value, zero-extended where it is used (R_X86_64_32);
	// otherwise such a field is signed (sign-extended).
	Unsigned bool
	// Bias is added to the addend to get the offset designated in text:
	// s390x's halfword-scaled PC-relative types are relative to the start
	// of their instruction, two bytes before the field (Bias -2).
	Bias int64
}

// EntryKind is how an architecture marks a function's ftrace entry.
type EntryKind int

const (
	// EntryCall is a call at the start of the function, found as the
	// function's first relocation: one of Entry.Types to Entry.Symbol.
	EntryCall EntryKind = iota
	// EntryPatchable is -fpatchable-function-entry: NOPs around the
	// function's start, each site recorded by a relocation in
	// __patchable_function_entries.
	EntryPatchable
)

// Entry tells how a function's patchable entry is recognized.
type Entry struct {
	Kind EntryKind
	// CallNops are the instructions that stand, at a function's first
	// byte, for the entry call when the compiler was asked for a nop
	// instead (s390x -mnop-mcount's jgnop); such a function's site is its
	// start (EntryCall).
	CallNops [][]byte
	// Symbol is the called profiling function (EntryCall).
	Symbol string
	// Types are the relocation types of the call (EntryCall).
	Types []uint32
	// SiteBefore is how many bytes the call instruction starts before the
	// relocated field (EntryCall).
	SiteBefore int
	// Section is the section listing the sites (EntryPatchable). Each
	// relocation in it designates one function's first patchable NOP,
	// which lies before the function's symbol or at it.
	Section string
	// Nop is the architecture's NOP instruction, the padding a
	// patchable entry may put before a function's symbol
	// (EntryPatchable).
	Nop []byte
}

// EntryNop reports whether the function at value in a section's data
// starts with one of the architecture's entry nops.
func (a *Arch) EntryNop(data []byte, value uint64) bool {
	if value > uint64(len(data)) {
		return false
	}
	for _, n := range a.Entry.CallNops {
		if bytes.HasPrefix(data[value:], n) {
			return true
		}
	}
	return false
}

// AlwaysNormal reports whether references to the named symbol stay normal
// relocations (NormalSymbols).
func (a *Arch) AlwaysNormal(name string) bool {
	for _, p := range a.NormalSymbols {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// arches are the architectures the engine knows, supported or not.
var arches = []*Arch{&x86_64, &aarch64, &loongarch64, &ppc64le, &s390x}

// ForMachine returns the architecture of e_machine m, or an error naming
// the machine when the engine does not know it or does not support it
// yet.
func ForMachine(m elf.Machine) (*Arch, error) {
	for _, a := range arches {
		if a.Machine == m {
			if a.unsupported != nil {
				return nil, a.unsupported
			}
			return a, nil
		}
	}
	names := make([]string, len(arches))
	for i, a := range arches {
		names[i] = a.Name
	}
	return nil, fmt.Errorf("machine %v (e_machine %d) is not one the diff engine knows (%s)", m, uint16(m), strings.Join(names, ", "))
}

// CheckData returns an error when objects of byte order d are not the
// architecture's (an aarch64_be object, say): the tables hold
// little-endian instruction encodings.
func (a *Arch) CheckData(d elf.Data) error {
	if d != a.Data {
		return fmt.Errorf("%s objects in %v byte order are not supported (%s kernels are %v)", a.Name, d, a.Name, a.Data)
	}
	return nil
}

// TypeName returns the ELF name of relocation type t, or the number when
// the table does not name it.
func (a *Arch) TypeName(t uint32) string {
	if r, ok := a.Types[t]; ok {
		return r.Name
	}
	return fmt.Sprintf("R_%s_%d", a.Name, t)
}

// Type returns the table entry of relocation type t.
func (a *Arch) Type(t uint32) (Reloc, bool) {
	r, ok := a.Types[t]
	return r, ok
}

// IsEntryCall reports whether a relocation of type t to symbol name is a
// function's entry call (EntryCall architectures).
func (a *Arch) IsEntryCall(t uint32, name string) bool {
	if a.Entry.Kind != EntryCall || name != a.Entry.Symbol {
		return false
	}
	for _, e := range a.Entry.Types {
		if e == t {
			return true
		}
	}
	return false
}

// TargetOffset returns the offset within the referenced symbol that a
// relocation designates: the addend, corrected for the types whose place
// is not the start of the field (FromInsnEnd) by the distance from the
// relocated field to the end of its instruction. So x86-64's "call foo-4"
// designates foo+0, and a RIP-relative operand followed by an immediate is
// mapped correctly.
//
// text is the decoded layout of the relocated section, or nil when the
// section is not executable or the architecture needs no layout.
func (a *Arch) TargetOffset(text *Insns, typ uint32, off uint64, addend int64) (int64, error) {
	if text == nil {
		return addend, nil
	}
	r, ok := a.Types[typ]
	switch {
	case !ok:
		return 0, fmt.Errorf("unhandled rela type %d (%s)", typ, a.TypeName(typ))
	case r.Opaque:
		return 0, fmt.Errorf("unhandled rela type %d (%s)", typ, a.TypeName(typ))
	case r.FromInsnEnd:
		end, ok := text.End(off)
		if !ok {
			return 0, fmt.Errorf("relocation at %#x is outside the decoded text", off)
		}
		return addend + int64(end-off), nil
	}
	return addend + r.Bias, nil
}

// DecodeText returns the instruction layout of text, or nil when the
// architecture needs none.
func (a *Arch) DecodeText(text []byte) (*Insns, error) {
	if a.Decode == nil {
		return nil, nil
	}
	return a.Decode(text)
}

// notSupported is the error of an architecture whose tables are not
// filled in yet.
func notSupported(name string, m elf.Machine) error {
	return fmt.Errorf("machine %v (%s) is not supported yet", m, name)
}

// nameTypes fills in the Name of every entry of a relocation table from
// the ELF package's names and returns the table.
func nameTypes(name func(uint32) string, types map[uint32]Reloc) map[uint32]Reloc {
	for t, r := range types {
		r.Name = name(t)
		types[t] = r
	}
	return types
}

// fixedLen returns a decoder for an instruction set whose instructions
// all have n bytes. A text whose size is not a multiple of n is an error.
func fixedLen(n int) func([]byte) (*Insns, error) {
	return func(text []byte) (*Insns, error) {
		if len(text)%n != 0 {
			return nil, fmt.Errorf("text of %d bytes is not a whole number of %d-byte instructions", len(text), n)
		}
		in := &Insns{size: uint32(len(text)), starts: make([]uint32, 0, len(text)/n)}
		for pc := 0; pc < len(text); pc += n {
			in.starts = append(in.starts, uint32(pc))
		}
		return in, nil
	}
}

// IsMapping reports whether name is one of the architecture's mapping
// symbols ($x, $d, $x.42, ...).
func (a *Arch) IsMapping(name string) bool {
	for _, m := range a.MappingSymbols {
		if name == m || strings.HasPrefix(name, m+".") {
			return true
		}
	}
	return false
}
