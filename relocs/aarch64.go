package relocs

import "debug/elf"

// aarch64 is the aarch64 architecture. Its tables are not filled in yet: ForMachine
// refuses its objects with a clear error rather than diff them wrongly.
var aarch64 = Arch{
	Name:        "aarch64",
	Machine:     elf.EM_AARCH64,
	PtrSize:     8,
	unsupported: notSupported("aarch64", elf.EM_AARCH64),
}
