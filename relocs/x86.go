package relocs

import (
	"debug/elf"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"
)

// Insns is the instruction layout of one text section: the start offset of
// every instruction, in order, and the section's length.
type Insns struct {
	starts []uint32
	size   uint32
}

// DecodeText decodes the x86-64 instructions of text from its start.
//
// x86asm has a gap this wrapper fills: endbr64 (f3 0f 1e fa) decodes as a
// lone REP prefix of length 1. Bytes the decoder cannot decode are an
// error naming the offset and the bytes.
func DecodeText(text []byte) (*Insns, error) {
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

// End returns the end offset of the instruction containing off.
func (in *Insns) End(off uint64) (uint64, bool) {
	i := sort.Search(len(in.starts), func(i int) bool { return uint64(in.starts[i]) > off }) - 1
	if i < 0 {
		return 0, false
	}
	_, end := in.At(i)
	return uint64(end), true
}

// X86PCRelative reports whether t is a PC-relative x86-64 relocation whose
// target byte lies at the end of the instruction (R_X86_64_PC32, PLT32 and
// the NONE left by old nop'ed mcount calls).
func X86PCRelative(t elf.R_X86_64) bool {
	switch t {
	case elf.R_X86_64_PC32, elf.R_X86_64_PLT32, elf.R_X86_64_NONE:
		return true
	}
	return false
}

// X86Known reports whether t is a relocation type the diff engine handles
// in x86-64 text.
func X86Known(t elf.R_X86_64) bool {
	switch t {
	case elf.R_X86_64_NONE, elf.R_X86_64_64, elf.R_X86_64_PC32, elf.R_X86_64_PLT32,
		elf.R_X86_64_32, elf.R_X86_64_32S, elf.R_X86_64_PC64, elf.R_X86_64_GOTPCREL,
		elf.R_X86_64_GOTPCRELX, elf.R_X86_64_REX_GOTPCRELX:
		return true
	}
	return false
}

// X86TargetOffset returns the offset within the referenced symbol that a
// relocation designates: the addend, corrected for PC-relative types in
// text by the distance from the relocated field to the end of its
// instruction. So "call foo-4" designates foo+0, and a RIP-relative
// operand followed by an immediate is mapped correctly.
//
// text is the decoded layout of the relocated section, or nil when the
// section is not executable.
func X86TargetOffset(text *Insns, typ uint32, off uint64, addend int64) (int64, error) {
	if text == nil {
		return addend, nil
	}
	t := elf.R_X86_64(typ)
	switch {
	case t == elf.R_X86_64_64 || t == elf.R_X86_64_32S || t == elf.R_X86_64_32:
		return addend, nil
	case X86PCRelative(t):
		end, ok := text.End(off)
		if !ok {
			return 0, fmt.Errorf("relocation at %#x is outside the decoded text", off)
		}
		return addend + int64(end-off), nil
	}
	return 0, fmt.Errorf("unhandled rela type %d (%v)", typ, t)
}
