package relocs

import (
	"debug/elf"
	"encoding/binary"
)

// aarch64 is the arm64 architecture: ftrace entry by
// -fpatchable-function-entry NOPs (two before the symbol and two after it
// under CALL_OPS, or all after it), each site recorded by an ABS64
// relocation in __patchable_function_entries; fixed 4-byte instructions;
// PC-relative relocations whose place is the instruction itself, so the
// addend always designates the target.
var aarch64 = Arch{
	Name:    "aarch64",
	Machine: elf.EM_AARCH64,
	Data:    elf.ELFDATA2LSB,
	PtrSize: 8,
	Abs64:   uint32(elf.R_AARCH64_ABS64),
	Types: nameTypes(func(t uint32) string { return elf.R_AARCH64(t).String() }, map[uint32]Reloc{
		a64(elf.R_AARCH64_NONE):                {KLP: true},
		a64(elf.R_AARCH64_ABS64):               {Size: 8, Absolute: true, KLP: true, SectionRef: true},
		a64(elf.R_AARCH64_ABS32):               {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_ABS16):               {Size: 2, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_PREL64):              {Size: 8, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_PREL32):              {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_PREL16):              {Size: 2, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G0):        {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G0_NC):     {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G1):        {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G1_NC):     {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G2):        {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G2_NC):     {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_MOVW_UABS_G3):        {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LD_PREL_LO19):        {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_ADR_PREL_LO21):       {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_ADR_PREL_PG_HI21):    {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_ADR_PREL_PG_HI21_NC): {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_ADD_ABS_LO12_NC):     {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LDST8_ABS_LO12_NC):   {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LDST16_ABS_LO12_NC):  {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LDST32_ABS_LO12_NC):  {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LDST64_ABS_LO12_NC):  {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_LDST128_ABS_LO12_NC): {Size: 4, Absolute: true, KLP: true},
		a64(elf.R_AARCH64_TSTBR14):             {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_CONDBR19):            {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_JUMP26):              {Size: 4, PCRel: true, KLP: true},
		a64(elf.R_AARCH64_CALL26):              {Size: 4, PCRel: true, KLP: true},
		// The module loader has no GOT: these stay inside the module.
		a64(elf.R_AARCH64_ADR_GOT_PAGE):     {Size: 4, PCRel: true, Opaque: true},
		a64(elf.R_AARCH64_LD64_GOT_LO12_NC): {Size: 4, Opaque: true},
	}),
	Entry: Entry{
		Kind:    EntryPatchable,
		Section: "__patchable_function_entries",
		Nop:     []byte{0x1f, 0x20, 0x03, 0xd5},
	},
	InsnLen:        4,
	Decode:         fixedLen(4),
	LineArgLoad:    isA64LineArgLoad,
	LineMacroFuncs: []string{"__warn_printk"},
	MappingSymbols: []string{"$x", "$d"},
}

func a64(t elf.R_AARCH64) uint32 { return uint32(t) }

// isA64LineArgLoad reports whether insn is "mov w2, #imm16" (movz, 32-bit,
// any shift), the line-number argument of __warn_printk.
func isA64LineArgLoad(insn []byte) bool {
	return len(insn) == 4 && binary.LittleEndian.Uint32(insn)&0xff80001f == 0x52800002
}
