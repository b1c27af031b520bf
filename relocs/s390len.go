package relocs

import (
	"debug/elf"
	"fmt"
)

// S390InsnLen returns the length of the z/Architecture instruction that
// starts with op: the two high bits of the first opcode byte give it
// (00: 2 bytes, 01 and 10: 4 bytes, 11: 6 bytes). It needs no table of
// opcodes, so s390x text decodes on any host.
func S390InsnLen(op byte) int {
	switch op >> 6 {
	case 0:
		return 2
	case 3:
		return 6
	}
	return 4
}

// DecodeS390Text lays out the s390x instructions of text from its start.
// An instruction that runs past the end of the section is an error naming
// its offset and bytes.
func DecodeS390Text(text []byte) (*Insns, error) {
	in := &Insns{size: uint32(len(text))}
	in.starts = make([]uint32, 0, len(text)/4)
	for pc := 0; pc < len(text); {
		n := S390InsnLen(text[pc])
		if pc+n > len(text) {
			return nil, fmt.Errorf("can't decode instruction at offset %#x (% x): a %d-byte instruction runs past the end of the section (%#x bytes)", pc, text[pc:], n, len(text))
		}
		in.starts = append(in.starts, uint32(pc))
		pc += n
	}
	return in, nil
}

// S390TargetOffset returns the offset within the referenced symbol that
// an s390x relocation designates. The PC-relative halfword-scaled ("DBL")
// relocations of a field two bytes into its instruction (brasl, larl,
// lgrl, jg, j) and the GOT-entry ones (GOTENT, GOTPLTENT) are relative to
// the start of the instruction, two bytes before the field, so their
// addend carries those two bytes: "brasl %r14,foo" has addend 2 and
// designates foo+0. Absolute and byte-relative data types designate the
// addend.
func S390TargetOffset(typ uint32, addend int64) (int64, error) {
	switch elf.R_390(typ) {
	case elf.R_390_PC32DBL, elf.R_390_PLT32DBL, elf.R_390_PC16DBL, elf.R_390_PLT16DBL,
		elf.R_390_GOTENT, elf.R_390_GOTPLTENT, elf.R_390_GOTPCDBL:
		return addend - 2, nil
	case elf.R_390_NONE, elf.R_390_8, elf.R_390_16, elf.R_390_32, elf.R_390_64,
		elf.R_390_PC16, elf.R_390_PC32, elf.R_390_PC64:
		return addend, nil
	}
	return 0, fmt.Errorf("unhandled rela type %d (%v)", typ, elf.R_390(typ))
}
