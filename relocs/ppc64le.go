package relocs

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// This file holds what the engine knows about 64-bit little-endian POWER
// (ELFv2 ABI, kernels built with -mprofile-kernel).
//
// A function has two entry points: the global entry, where a caller from
// another module (with another TOC) arrives and the first two
// instructions derive r2 from r12, and the local entry a few bytes later,
// used by callers that share the TOC. The symbol's st_other encodes the
// distance. Kernel objects put an 8-byte TOC offset word before the
// function, so a per-function section's symbol sits at offset 8.
//
// Functions reach data through the .toc section: an instruction pair with
// R_PPC64_TOC16_HA / R_PPC64_TOC16_LO_DS relocations against ".toc + N"
// loads the doubleword at .toc+N, and .rela.toc's R_PPC64_ADDR64 entry at
// offset N names the data (or function) actually used. The engine
// resolves this indirection wherever it compares or classifies what a
// function references.

// ppc64le is the 64-bit little-endian POWER architecture (ELFv2).
var ppc64le = Arch{
	Name:    "ppc64le",
	Machine: elf.EM_PPC64,
	Data:    elf.ELFDATA2LSB,
	PtrSize: 8,
	Abs64:   ppc(elf.R_PPC64_ADDR64),
	Types:   ppc64Types(),
	// -mprofile-kernel: "mflr r0; bl _mcount" after the local entry. The
	// call is not the section's first relocation (the TOC setup of the
	// global entry comes first): the engine looks for it anywhere in the
	// function's section, and the site is the bl itself.
	Entry:       Entry{Kind: EntryCall, Symbol: "_mcount", Types: []uint32{ppc(elf.R_PPC64_REL24), ppc(elf.R_PPC64_REL24_NOTOC)}},
	InsnLen:     4,
	Decode:      DecodePPC64,
	LineArgLoad: PPC64LineArgLoad,
}

func ppc(t elf.R_PPC64) uint32 { return uint32(t) }

// ppc64Types is the relocation table: every type the assembler emits in
// kernel code. KLP marks the types the kernel's module loader (and so the
// livepatch core) applies; no type needs the instruction layout, since
// every PC-relative place is the start of the instruction or field.
func ppc64Types() map[uint32]Reloc {
	t := map[uint32]Reloc{}
	add := func(r Reloc, types ...elf.R_PPC64) {
		for _, ty := range types {
			r.Name = ty.String()
			t[ppc(ty)] = r
		}
	}
	add(Reloc{}, elf.R_PPC64_NONE)
	add(Reloc{Size: 8, Absolute: true, KLP: true}, elf.R_PPC64_ADDR64, elf.R_PPC64_TOC)
	add(Reloc{Size: 4, Absolute: true, KLP: true}, elf.R_PPC64_ADDR32)
	add(Reloc{Size: 2, Absolute: true, KLP: true}, elf.R_PPC64_ADDR16_LO, elf.R_PPC64_ADDR16_HI, elf.R_PPC64_ADDR16_HA,
		elf.R_PPC64_TOC16, elf.R_PPC64_TOC16_LO, elf.R_PPC64_TOC16_HI, elf.R_PPC64_TOC16_HA,
		elf.R_PPC64_TOC16_DS, elf.R_PPC64_TOC16_LO_DS)
	add(Reloc{Size: 2, Absolute: true}, elf.R_PPC64_ADDR16, elf.R_PPC64_ADDR16_DS, elf.R_PPC64_ADDR16_LO_DS,
		elf.R_PPC64_ADDR16_HIGH, elf.R_PPC64_ADDR16_HIGHA, elf.R_PPC64_ADDR16_HIGHER, elf.R_PPC64_ADDR16_HIGHERA,
		elf.R_PPC64_ADDR16_HIGHEST, elf.R_PPC64_ADDR16_HIGHESTA)
	add(Reloc{Size: 4, Absolute: true}, elf.R_PPC64_ADDR24, elf.R_PPC64_ADDR14, elf.R_PPC64_ADDR14_BRTAKEN,
		elf.R_PPC64_ADDR14_BRNTAKEN, elf.R_PPC64_UADDR32)
	add(Reloc{Size: 8, Absolute: true}, elf.R_PPC64_UADDR64)
	add(Reloc{Size: 4, PCRel: true, KLP: true}, elf.R_PPC64_REL24, elf.R_PPC64_REL24_NOTOC, elf.R_PPC64_REL32)
	add(Reloc{Size: 4, PCRel: true}, elf.R_PPC64_REL14, elf.R_PPC64_REL14_BRTAKEN, elf.R_PPC64_REL14_BRNTAKEN)
	add(Reloc{Size: 8, PCRel: true, KLP: true}, elf.R_PPC64_REL64, elf.R_PPC64_PCREL34, elf.R_PPC64_GOT_PCREL34)
	add(Reloc{Size: 2, PCRel: true, KLP: true}, elf.R_PPC64_REL16_HA, elf.R_PPC64_REL16_LO)
	add(Reloc{Size: 2, PCRel: true}, elf.R_PPC64_REL16, elf.R_PPC64_REL16_HI)
	add(Reloc{Size: 0, KLP: true}, elf.R_PPC64_ENTRY, elf.R_PPC64_TOCSAVE)
	add(Reloc{Size: 2}, elf.R_PPC64_GOT16, elf.R_PPC64_GOT16_LO, elf.R_PPC64_GOT16_HI, elf.R_PPC64_GOT16_HA,
		elf.R_PPC64_GOT16_DS, elf.R_PPC64_GOT16_LO_DS)
	return t
}

// PPC64LocalEntry returns the distance from a function's global entry to
// its local entry, encoded in bits 5-7 of st_other (ELFv2): 0 and 1 mean
// none, 2..6 mean 1<<n bytes (4..64), 7 is reserved.
func PPC64LocalEntry(other uint8) uint64 {
	switch n := (other >> 5) & 7; n {
	case 0, 1, 7:
		return 0
	default:
		return 1 << n
	}
}

// PPC64TOCOffset is where a function symbol of the ELFv2 kernel ABI sits in
// its own section when a TOC offset word precedes it (the "global/local
// entry pair" layout of GCC 6 and later).
const PPC64TOCOffset = 8

// PPC64TOCRelative reports whether t is one of the TOC-relative types an
// instruction uses to address a .toc entry (the high-adjusted, low and
// low-DS halves of the offset from the TOC base).
func PPC64TOCRelative(t elf.R_PPC64) bool {
	switch t {
	case elf.R_PPC64_TOC16, elf.R_PPC64_TOC16_LO, elf.R_PPC64_TOC16_HI, elf.R_PPC64_TOC16_HA,
		elf.R_PPC64_TOC16_DS, elf.R_PPC64_TOC16_LO_DS:
		return true
	}
	return false
}

// PPC64LoaderOnly reports whether a relocation of type t in section sec is
// one the module loader resolves itself and must never become a livepatch
// relocation: the TOC setup of a global entry (REL16_HA/LO against .TOC.,
// R_PPC64_ENTRY) and PC-relative 64-bit words outside __jump_table (the
// kernel's relative jump entries are the only ones that name a symbol
// that may live elsewhere).
func PPC64LoaderOnly(t elf.R_PPC64, sec string) bool {
	switch t {
	case elf.R_PPC64_REL16_HA, elf.R_PPC64_REL16_LO, elf.R_PPC64_ENTRY:
		return true
	case elf.R_PPC64_REL64:
		return sec != "__jump_table"
	}
	return false
}

// PPC64InsnLen returns the length of the instruction whose first word is w:
// 8 for a Power ISA 3.1 prefixed instruction (primary opcode 1), else 4.
func PPC64InsnLen(w uint32) int {
	if w>>26 == 1 {
		return 8
	}
	return 4
}

// DecodePPC64 lays out little-endian POWER text: 4-byte words, 8 for
// prefixed instructions. A section whose size is not a multiple of 4, or
// that ends inside a prefixed instruction, is an error naming the offset.
func DecodePPC64(text []byte) (*Insns, error) {
	if len(text)%4 != 0 {
		return nil, fmt.Errorf("text size %#x is not a multiple of 4", len(text))
	}
	in := &Insns{size: uint32(len(text)), starts: make([]uint32, 0, len(text)/4)}
	for pc := 0; pc < len(text); {
		in.starts = append(in.starts, uint32(pc))
		n := PPC64InsnLen(binary.LittleEndian.Uint32(text[pc:]))
		if pc+n > len(text) {
			return nil, fmt.Errorf("prefixed instruction at offset %#x runs past the end of the section", pc)
		}
		pc += n
	}
	return in, nil
}

// PPC64LineArgLoad reports whether insn is "li r4,imm" or "li r5,imm"
// (addi rD,0,imm): how a WARN or might_sleep call site passes __LINE__ in
// the second or third argument register.
func PPC64LineArgLoad(insn []byte) bool {
	if len(insn) != 4 {
		return false
	}
	hi := binary.LittleEndian.Uint32(insn) >> 16
	return hi == 0x3880 || hi == 0x38a0
}

// PPC64UnlinkedBranch reports whether w is "b ." before relocation: an
// unconditional relative branch without link whose target field is left
// for an R_PPC64_REL24 relocation. In a function, with a relocation at
// that word, it is a sibling (tail) call.
func PPC64UnlinkedBranch(w uint32) bool { return w == 0x48000000 }

// PPC64Word reads the little-endian instruction word at off, if there is
// one.
func PPC64Word(text []byte, off uint64) (uint32, bool) {
	if off+4 > uint64(len(text)) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(text[off:]), true
}
