package relocs

import "debug/elf"

// loongarch64 is the LoongArch architecture: ftrace entry by
// -fpatchable-function-entry NOPs at the function's start, each site
// recorded in __patchable_function_entries through a local label; fixed
// 4-byte instructions; PC-relative relocations whose place is the
// instruction itself, so the addend always designates the target. The
// assembler references code and data through local labels (.LC0,
// .LPFE1, ...), which the engine folds into their section symbol.
var loongarch64 = Arch{
	Name:    "loongarch64",
	Machine: elf.EM_LOONGARCH,
	Data:    elf.ELFDATA2LSB,
	PtrSize: 8,
	Abs64:   uint32(elf.R_LARCH_64),
	Types: nameTypes(func(t uint32) string { return elf.R_LARCH(t).String() }, map[uint32]Reloc{
		la(elf.R_LARCH_NONE):         {KLP: true},
		la(elf.R_LARCH_32):           {Size: 4, Absolute: true, KLP: true},
		la(elf.R_LARCH_64):           {Size: 8, Absolute: true, KLP: true, SectionRef: true},
		la(elf.R_LARCH_B16):          {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_B21):          {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_B26):          {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_CALL36):       {Size: 8, PCRel: true, KLP: true},
		la(elf.R_LARCH_ABS_HI20):     {Size: 4, Absolute: true, KLP: true},
		la(elf.R_LARCH_ABS_LO12):     {Size: 4, Absolute: true, KLP: true},
		la(elf.R_LARCH_ABS64_LO20):   {Size: 4, Absolute: true, KLP: true},
		la(elf.R_LARCH_ABS64_HI12):   {Size: 4, Absolute: true, KLP: true},
		la(elf.R_LARCH_PCALA_HI20):   {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_PCALA_LO12):   {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_PCALA64_LO20): {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_PCALA64_HI12): {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_PCREL20_S2):   {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_32_PCREL):     {Size: 4, PCRel: true, KLP: true},
		la(elf.R_LARCH_64_PCREL):     {Size: 8, PCRel: true, KLP: true},
		// GOT forms: the module loader makes the GOT entry; the addend
		// designates the symbol, not a place in it.
		la(elf.R_LARCH_GOT_PC_HI20):   {Size: 4, PCRel: true, Opaque: true, KLP: true},
		la(elf.R_LARCH_GOT_PC_LO12):   {Size: 4, PCRel: true, Opaque: true, KLP: true},
		la(elf.R_LARCH_GOT64_PC_LO20): {Size: 4, PCRel: true, Opaque: true, KLP: true},
		la(elf.R_LARCH_GOT64_PC_HI12): {Size: 4, PCRel: true, Opaque: true, KLP: true},
		// Label differences and linker-relaxation markers stay inside
		// the module.
		la(elf.R_LARCH_ADD8):  {Size: 1, Absolute: true},
		la(elf.R_LARCH_ADD16): {Size: 2, Absolute: true},
		la(elf.R_LARCH_ADD32): {Size: 4, Absolute: true},
		la(elf.R_LARCH_ADD64): {Size: 8, Absolute: true},
		la(elf.R_LARCH_SUB8):  {Size: 1, Absolute: true},
		la(elf.R_LARCH_SUB16): {Size: 2, Absolute: true},
		la(elf.R_LARCH_SUB32): {Size: 4, Absolute: true},
		la(elf.R_LARCH_SUB64): {Size: 8, Absolute: true},
		la(elf.R_LARCH_RELAX): {},
		la(elf.R_LARCH_ALIGN): {},
	}),
	Entry: Entry{
		Kind:    EntryPatchable,
		Section: "__patchable_function_entries",
		Nop:     []byte{0x00, 0x00, 0x40, 0x03}, // andi $zero, $zero, 0
	},
	InsnLen:         4,
	Decode:          fixedLen(4),
	FoldLocalLabels: true,
}

func la(t elf.R_LARCH) uint32 { return uint32(t) }
