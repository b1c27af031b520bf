package relocs

import "debug/elf"

// ppc64le is the ppc64le architecture. Its tables are not filled in yet: ForMachine
// refuses its objects with a clear error rather than diff them wrongly.
var ppc64le = Arch{
	Name:        "ppc64le",
	Machine:     elf.EM_PPC64,
	Data:        elf.ELFDATA2LSB,
	PtrSize:     8,
	unsupported: notSupported("ppc64le", elf.EM_PPC64),
}
