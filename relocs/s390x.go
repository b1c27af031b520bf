package relocs

import "debug/elf"

// s390x is the s390x (z/Architecture) architecture: big-endian, 2-, 4- and
// 6-byte instructions sized by their first opcode byte (so text decodes on
// any host), ftrace entry by "brasl %r0,__fentry__" (gcc -mfentry) or the
// 6-byte jgnop -mnop-mcount leaves in its place, both at the function's
// first byte and listed in __mcount_loc. Halfword-scaled PC-relative
// relocations are relative to the start of their instruction, two bytes
// before the field they patch.
var s390x = Arch{
	Name:    "s390x",
	Machine: elf.EM_S390,
	Data:    elf.ELFDATA2MSB,
	PtrSize: 8,
	Abs64:   s390(elf.R_390_64),
	Types: nameTypes(func(t uint32) string { return elf.R_390(t).String() }, map[uint32]Reloc{
		s390(elf.R_390_NONE):     {Size: 0},
		s390(elf.R_390_8):        {Size: 1, Absolute: true, KLP: true},
		s390(elf.R_390_16):       {Size: 2, Absolute: true, KLP: true},
		s390(elf.R_390_32):       {Size: 4, Absolute: true, KLP: true},
		s390(elf.R_390_64):       {Size: 8, Absolute: true, KLP: true, SectionRef: true},
		s390(elf.R_390_PC16):     {Size: 2, PCRel: true, KLP: true},
		s390(elf.R_390_PC32):     {Size: 4, PCRel: true, KLP: true},
		s390(elf.R_390_PC64):     {Size: 8, PCRel: true, KLP: true},
		s390(elf.R_390_PC16DBL):  {Size: 2, PCRel: true, KLP: true, Bias: -2},
		s390(elf.R_390_PLT16DBL): {Size: 2, PCRel: true, KLP: true, Bias: -2},
		s390(elf.R_390_PC32DBL):  {Size: 4, PCRel: true, KLP: true, Bias: -2},
		s390(elf.R_390_PLT32DBL): {Size: 4, PCRel: true, KLP: true, Bias: -2},
		// lgrl/lg through the GOT slot of a symbol: the way s390x kernel
		// code takes the address of a global, so a function pointer.
		s390(elf.R_390_GOTENT):    {Size: 4, PCRel: true, KLP: true, Bias: -2, KeepsOriginal: true},
		s390(elf.R_390_GOTPLTENT): {Size: 4, PCRel: true, KLP: true, Bias: -2},
		s390(elf.R_390_GOTPCDBL):  {Size: 4, PCRel: true, Bias: -2},
	}),
	Entry: Entry{
		Kind:       EntryCall,
		Symbol:     "__fentry__",
		Types:      []uint32{s390(elf.R_390_PLT32DBL), s390(elf.R_390_PC32DBL)},
		SiteBefore: 2,
		CallNops:   [][]byte{{0xc0, 0x04, 0, 0, 0, 0}},
	},
	Decode:      DecodeS390Text,
	LineArgLoad: isS390LineArgLoad,
	// Expoline thunks: the kernel exports them and every module links
	// its own references to them, so they stay normal relocations.
	NormalSymbols: []string{"__s390_indirect_jump_r"},
}

func s390(t elf.R_390) uint32 { return uint32(t) }

// isS390LineArgLoad reports whether insn loads an immediate into %r3 or
// %r4, the second and third argument registers, the way gcc loads an int
// constant such as __LINE__ there: lghi (a7 r9) up to 32767, llill (a5 rf)
// up to 65535, lgfi (c0 r1) beyond.
func isS390LineArgLoad(insn []byte) bool {
	if len(insn) < 2 {
		return false
	}
	if r := insn[1] >> 4; r != 3 && r != 4 {
		return false
	}
	op := insn[1] & 0x0f
	switch {
	case len(insn) == 4 && insn[0] == 0xa7:
		return op == 0x9
	case len(insn) == 4 && insn[0] == 0xa5:
		return op == 0xf
	case len(insn) == 6 && insn[0] == 0xc0:
		return op == 0x1
	}
	return false
}
