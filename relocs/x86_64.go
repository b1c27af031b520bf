package relocs

import (
	"debug/elf"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"
)

// x86_64 is the x86-64 architecture: ftrace entry by "call __fentry__"
// (gcc -pg -mfentry), variable-length instructions decoded to find where
// a PC-relative operand's instruction ends.
var x86_64 = Arch{
	Name:    "x86_64",
	Machine: elf.EM_X86_64,
	Data:    elf.ELFDATA2LSB,
	PtrSize: 8,
	Abs64:   uint32(elf.R_X86_64_64),
	Types: nameTypes(func(t uint32) string { return elf.R_X86_64(t).String() }, map[uint32]Reloc{
		// NONE is what old kernels leave at a nop'ed mcount call.
		x86(elf.R_X86_64_NONE):          {Size: 0, PCRel: true, FromInsnEnd: true, KLP: true, Direct: true},
		x86(elf.R_X86_64_64):            {Size: 8, Absolute: true, KLP: true, SectionRef: true, Direct: true},
		x86(elf.R_X86_64_PC32):          {Size: 4, PCRel: true, FromInsnEnd: true, KLP: true, Direct: true},
		x86(elf.R_X86_64_PLT32):         {Size: 4, PCRel: true, FromInsnEnd: true, KLP: true, Direct: true},
		x86(elf.R_X86_64_32):            {Size: 4, Absolute: true, KLP: true, Direct: true, Unsigned: true},
		x86(elf.R_X86_64_32S):           {Size: 4, Absolute: true, KLP: true, SectionRef: true, KeepsOriginal: true, Direct: true},
		x86(elf.R_X86_64_PC64):          {Size: 8, PCRel: true, Opaque: true, KLP: true, Direct: true},
		x86(elf.R_X86_64_GOTPCREL):      {Size: 4, PCRel: true, Opaque: true, KLP: true},
		x86(elf.R_X86_64_GOTPCRELX):     {Size: 4, PCRel: true, Opaque: true, KLP: true},
		x86(elf.R_X86_64_REX_GOTPCRELX): {Size: 4, PCRel: true, Opaque: true, KLP: true},
	}),
	Entry: Entry{
		Kind:       EntryCall,
		Symbol:     "__fentry__",
		Types:      []uint32{x86(elf.R_X86_64_NONE), x86(elf.R_X86_64_PC32), x86(elf.R_X86_64_PLT32)},
		SiteBefore: 1,
	},
	Decode:          DecodeX86,
	LineArgLoad:     isX86LineArgLoad,
	PrefixSymbols:   []string{"__pfx_", "__cfi_"},
	PaddingNop:      []byte{0x90},
	IgnoredSections: []string{"__patchable_function_entries", ".rela__patchable_function_entries"},
	RestoreCall:     restoreX86Call,
	Hardening: &Hardening{
		Landing:      []byte{0xf3, 0x0f, 0x1e, 0xfa}, // endbr64
		ReturnThunk:  "__x86_return_thunk",
		Return:       isX86Return,
		DirectBranch: isX86DirectBranch,
	},
}

// isX86Return reports whether insn is a near return (ret, ret imm16,
// with a REP prefix or not).
func isX86Return(insn []byte) bool {
	if len(insn) > 1 && insn[0] == 0xf3 {
		insn = insn[1:]
	}
	return len(insn) > 0 && (insn[0] == 0xc3 || insn[0] == 0xc2)
}

// isX86DirectBranch reports whether insn is a call, jmp or jcc with a
// 32-bit displacement, whose relocation designates a branch target, not
// an address taken.
func isX86DirectBranch(insn []byte) bool {
	switch {
	case len(insn) == 5 && (insn[0] == 0xe8 || insn[0] == 0xe9):
		return true
	case len(insn) == 6 && insn[0] == 0x0f && insn[1]&0xf0 == 0x80:
		return true
	}
	return false
}

func x86(t elf.R_X86_64) uint32 { return uint32(t) }

// isX86LineArgLoad reports whether insn loads an immediate into the
// second or third argument register (mov $imm32, %esi / %edx).
func isX86LineArgLoad(insn []byte) bool {
	return len(insn) == 5 && (insn[0] == 0xbe || insn[0] == 0xba)
}

// restoreX86Call turns an old nop'ed mcount site (a NONE relocation on
// the operand of a 5-byte nop) back into "call rel32".
func restoreX86Call(data []byte, off uint64, typ uint32) (uint32, bool) {
	if typ != x86(elf.R_X86_64_NONE) || off < 1 || off+4 > uint64(len(data)) {
		return 0, false
	}
	copy(data[off-1:off+4], []byte{0xe8, 0, 0, 0, 0})
	return x86(elf.R_X86_64_PC32), true
}

// Insns is the instruction layout of one text section: the start offset of
// every instruction, in order, and the section's length.
type Insns struct {
	starts []uint32
	size   uint32
}

// DecodeX86 decodes the x86-64 instructions of text from its start.
//
// x86asm has a gap this wrapper fills: endbr64 (f3 0f 1e fa) decodes as a
// lone REP prefix of length 1. Bytes the decoder cannot decode are an
// error naming the offset and the bytes.
func DecodeX86(text []byte) (*Insns, error) {
	in := &Insns{size: uint32(len(text))}
	in.starts = make([]uint32, 0, len(text)/4)
	for pc := 0; pc < len(text); {
		in.starts = append(in.starts, uint32(pc))
		n, err := insnLen(text[pc:])
		if err != nil {
			end := min(pc+8, len(text))
			return nil, fmt.Errorf("can't decode instruction at offset %#x (% x): %w", pc, text[pc:end], err)
		}
		pc += n
	}
	return in, nil
}

func insnLen(b []byte) (int, error) {
	if len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && (b[3] == 0xfa || b[3] == 0xfb) {
		return 4, nil // endbr64 / endbr32
	}
	if n, ok := FastLen(b); ok {
		return n, nil
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		if n, ok := systemInsnLen(b); ok {
			return n, nil
		}
		return 0, err
	}
	return inst.Len, nil
}

// systemInsnLen sizes the register forms of opcode group 0f 01 (rdpkru,
// wrpkru, clac, stac, xgetbv, swapgs, rdtscp, ...), which x86asm does not
// decode: legacy and REX prefixes, two opcode bytes and a ModRM byte with
// mod = 11 and no operands beyond it.
func systemInsnLen(b []byte) (int, bool) {
	i := 0
	for i < len(b) && i < 14 {
		switch c := b[i]; {
		case c == 0x66 || c == 0x67 || c == 0xf2 || c == 0xf3 || c == 0xf0 || c == 0x2e || c == 0x3e || c == 0x26 || c == 0x36 || c == 0x64 || c == 0x65:
			i++
			continue
		case c >= 0x40 && c <= 0x4f:
			i++
			continue
		}
		break
	}
	if i+3 <= len(b) && b[i] == 0x0f && b[i+1] == 0x01 && b[i+2] >= 0xc0 {
		return i + 3, true
	}
	return 0, false
}

// Len returns the number of instructions.
func (in *Insns) Len() int { return len(in.starts) }

// At returns the start and end offset of instruction i.
func (in *Insns) At(i int) (start, end uint32) {
	start = in.starts[i]
	if i+1 < len(in.starts) {
		return start, in.starts[i+1]
	}
	return start, in.size
}

// Start returns the start offset of the instruction containing off.
func (in *Insns) Start(off uint64) (uint64, bool) {
	i := sort.Search(len(in.starts), func(i int) bool { return uint64(in.starts[i]) > off }) - 1
	if i < 0 {
		return 0, false
	}
	return uint64(in.starts[i]), true
}

// End returns the end offset of the instruction containing off.
func (in *Insns) End(off uint64) (uint64, bool) {
	i := sort.Search(len(in.starts), func(i int) bool { return uint64(in.starts[i]) > off }) - 1
	if i < 0 {
		return 0, false
	}
	_, end := in.At(i)
	return uint64(end), true
}
