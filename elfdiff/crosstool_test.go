package elfdiff_test

import (
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// crossPrefix is the binutils prefix of each machine's cross tools.
var crossPrefix = map[elf.Machine]string{
	elf.EM_PPC64:   "powerpc64le-linux-gnu-",
	elf.EM_S390:    "s390x-linux-gnu-",
	elf.EM_AARCH64: "aarch64-linux-gnu-",
}

// toolFor is the binutils tool that handles the object obj: the host's for
// x86-64, the cross one (for example powerpc64le-linux-gnu-ld) for other
// machines; missing tools skip the test (or fail it under CI).
func toolFor(t testing.TB, obj []byte, name string) string {
	t.Helper()
	if len(obj) >= 20 {
		var m uint16
		if obj[elf.EI_DATA] == byte(elf.ELFDATA2MSB) {
			m = binary.BigEndian.Uint16(obj[18:])
		} else {
			m = binary.LittleEndian.Uint16(obj[18:])
		}
		if p, ok := crossPrefix[elf.Machine(m)]; ok {
			return testutil.NeedTool(t, p+name)
		}
	}
	return testutil.NeedTool(t, name)
}
