package relocs

import "debug/elf"

// s390x is the s390x architecture. Its tables are not filled in yet: ForMachine
// refuses its objects with a clear error rather than diff them wrongly.
var s390x = Arch{
	Name:        "s390x",
	Machine:     elf.EM_S390,
	PtrSize:     8,
	unsupported: notSupported("s390x", elf.EM_S390),
}
