package relocs

import (
	"debug/elf"
	"strings"
	"testing"
)

func TestForMachine(t *testing.T) {
	a, err := ForMachine(elf.EM_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "x86_64" || a.PtrSize != 8 || a.Abs64 != uint32(elf.R_X86_64_64) {
		t.Errorf("x86_64 table: %s ptr %d abs %d", a.Name, a.PtrSize, a.Abs64)
	}
	if got := a.TypeName(uint32(elf.R_X86_64_PLT32)); got != "R_X86_64_PLT32" {
		t.Errorf("TypeName(PLT32) = %q", got)
	}
	if got := a.TypeName(99); got != "R_x86_64_99" {
		t.Errorf("TypeName(99) = %q", got)
	}
	_, err = ForMachine(elf.EM_SPARCV9)
	if err == nil || !strings.Contains(err.Error(), "EM_SPARCV9") || !strings.Contains(err.Error(), "not a livepatch architecture") {
		t.Errorf("unknown machine: %v", err)
	}
	for _, a := range arches {
		if a.unsupported == nil {
			continue
		}
		_, err := ForMachine(a.Machine)
		if err == nil || !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("%s stub: %v", a.Name, err)
		}
	}
}

func TestX86TargetOffset(t *testing.T) {
	a := &x86_64
	// lea 0x0(%rip),%rax; movl $1, 0x0(%rip) (imm32 after the displacement); call rel32
	text := []byte{
		0x48, 0x8d, 0x05, 0, 0, 0, 0,
		0xc7, 0x05, 0, 0, 0, 0, 1, 0, 0, 0,
		0xe8, 0, 0, 0, 0,
	}
	in, err := a.DecodeText(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ    elf.R_X86_64
		off    uint64
		addend int64
		want   int64
		err    string
	}{
		{elf.R_X86_64_PC32, 3, -4, 0, ""},
		{elf.R_X86_64_PC32, 9, -8, 0, ""},
		{elf.R_X86_64_PLT32, 18, -4, 0, ""},
		{elf.R_X86_64_32S, 9, 16, 16, ""},
		{elf.R_X86_64_GOTPCREL, 3, -4, 0, "unhandled rela type"},
		{elf.R_X86_64_TPOFF32, 3, 0, 0, "unhandled rela type"},
	} {
		got, err := a.TargetOffset(in, uint32(c.typ), c.off, c.addend)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v at %d: err %v, want %q", c.typ, c.off, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v at %d addend %d: %d, %v; want %d", c.typ, c.off, c.addend, got, err, c.want)
		}
	}
	// Outside text, the addend is the offset.
	if got, err := a.TargetOffset(nil, uint32(elf.R_X86_64_PC32), 3, -4); err != nil || got != -4 {
		t.Errorf("data PC32: %d, %v", got, err)
	}
}
