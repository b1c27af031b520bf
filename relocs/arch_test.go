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
	if err == nil || !strings.Contains(err.Error(), "EM_SPARCV9") || !strings.Contains(err.Error(), "not one the diff engine knows (x86_64, aarch64") {
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

func TestA64LineArgLoad(t *testing.T) {
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	for _, c := range []struct {
		insn uint32
		want bool
		what string
	}{
		{0x52800542, true, "mov w2, #0x2a"},
		{0x52a00022, true, "mov w2, #0x10000 (movz hw=1)"},
		{0x52800541, false, "mov w1, #0x2a"},
		{0xd2800542, false, "mov x2, #0x2a (64-bit)"},
		{0x12800542, false, "movn w2, #0x2a"},
		{0xd503201f, false, "nop"},
	} {
		if got := aarch64.LineArgLoad(le(c.insn)); got != c.want {
			t.Errorf("%s (%#x): %v, want %v", c.what, c.insn, got, c.want)
		}
	}
}

func TestFixedLen(t *testing.T) {
	in, err := aarch64.DecodeText(make([]byte, 12))
	if err != nil || in.Len() != 3 {
		t.Fatalf("12 bytes: %v, %v", in, err)
	}
	if s, e := in.At(2); s != 8 || e != 12 {
		t.Errorf("At(2) = %d, %d", s, e)
	}
	if _, err := loongarch64.DecodeText(make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "not a whole number of 4-byte instructions") {
		t.Errorf("10 bytes: %v", err)
	}
	// The addend of a PC-relative aarch64 type designates the target.
	if off, err := aarch64.TargetOffset(in, uint32(elf.R_AARCH64_CALL26), 4, 16); err != nil || off != 16 {
		t.Errorf("CALL26: %d, %v", off, err)
	}
	if _, err := aarch64.TargetOffset(in, uint32(elf.R_AARCH64_ADR_GOT_PAGE), 4, 0); err == nil {
		t.Error("ADR_GOT_PAGE in text: no error")
	}
}

func TestMappingAndTables(t *testing.T) {
	for _, n := range []string{"$x", "$d", "$x.12"} {
		if !aarch64.IsMapping(n) {
			t.Errorf("%s is not a mapping symbol", n)
		}
	}
	for _, n := range []string{"$xyz", "x", ".LC0"} {
		if aarch64.IsMapping(n) {
			t.Errorf("%s is a mapping symbol", n)
		}
	}
	if x86_64.IsMapping("$x") {
		t.Error("x86_64 has mapping symbols")
	}
	for _, a := range arches {
		if a.unsupported != nil {
			continue
		}
		abs, ok := a.Type(a.Abs64)
		if !ok || abs.Size != a.PtrSize || !abs.Absolute || !abs.KLP {
			t.Errorf("%s: Abs64 %s is %+v", a.Name, a.TypeName(a.Abs64), abs)
		}
		for typ, r := range a.Types {
			if r.Name == "" || strings.Contains(r.Name, "R_"+a.Name) {
				t.Errorf("%s: type %d has no ELF name (%q)", a.Name, typ, r.Name)
			}
		}
		if a.Entry.Kind == EntryPatchable && (a.Entry.Section == "" || len(a.Entry.Nop) != a.InsnLen) {
			t.Errorf("%s: patchable entry without a section or a nop of the instruction length: %+v", a.Name, a.Entry)
		}
	}
}

func TestCheckData(t *testing.T) {
	if err := aarch64.CheckData(elf.ELFDATA2LSB); err != nil {
		t.Error(err)
	}
	if err := aarch64.CheckData(elf.ELFDATA2MSB); err == nil || !strings.Contains(err.Error(), "aarch64 objects in ELFDATA2MSB byte order") {
		t.Errorf("aarch64_be: %v", err)
	}
}
