package relocs

import "debug/elf"

// loongarch64 is the loongarch64 architecture. Its tables are not filled in yet: ForMachine
// refuses its objects with a clear error rather than diff them wrongly.
var loongarch64 = Arch{
	Name:        "loongarch64",
	Machine:     elf.EM_LOONGARCH,
	PtrSize:     8,
	unsupported: notSupported("loongarch64", elf.EM_LOONGARCH),
}
