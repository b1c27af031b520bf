package loader

import (
	"debug/elf"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// TestApplyRela applies relocations to a page of memory as the loader
// and the livepatch core do: values land at P, refusals name the
// relocation section, the entry, the place, the symbol and the type, and
// write nothing.
func TestApplyRela(t *testing.T) {
	const base = 0xffffffffa0000000
	m := mem.New()
	if err := m.Map(base, mem.PageSize, mem.PermRX); err != nil {
		t.Fatal(err)
	}
	syms := []elf.Symbol{{}, {Name: "printk", Value: 0xffffffff81001000}, {Name: "", Value: base + 0x800}}
	rela := func(off uint64, typ elf.R_X86_64, sym uint32, add int64) Rela {
		r, err := NewRela(".klp.rela.vmlinux.text", 3, ".text", base, 0x100,
			elf.Rela64{Off: off, Info: elf.R_INFO(sym, uint32(typ)), Addend: add}, syms)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := ApplyRela(m, rela(0x10, elf.R_X86_64_PLT32, 2, -4)); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Read32(base + 0x10); v != 0x800-4-0x10 {
		t.Errorf("PLT32 wrote %#x", v)
	}
	if err := ApplyRela(m, rela(0x20, elf.R_X86_64_64, 1, 8)); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Read64(base + 0x20); v != 0xffffffff81001008 {
		t.Errorf("64 wrote %#x", v)
	}
	for _, c := range []struct {
		r    Rela
		want string
	}{
		{rela(0x30, elf.R_X86_64_32, 1, 0), "section .klp.rela.vmlinux.text: relocation 3 at .text+0x30: symbol printk: R_X86_64_32: value 0xffffffff81001000 does not fit in a 32-bit unsigned field"},
		{rela(0xfe, elf.R_X86_64_PC32, 1, -4), "section .klp.rela.vmlinux.text: relocation 3 at .text+0xfe: R_X86_64_PC32: symbol printk: the 4-byte field is beyond the section (0x100 bytes)"},
		{rela(0x40, elf.R_X86_64_GOTPCREL, 2, 0), "section .klp.rela.vmlinux.text: relocation 3 at .text+0x40: symbol #2: unsupported relocation type R_X86_64_GOTPCREL (9)"},
	} {
		err := ApplyRela(m, c.r)
		if err == nil || err.Error() != c.want {
			t.Errorf("error %v\nwant  %s", err, c.want)
		}
		if v, _ := m.Read64(c.r.Addr + c.r.Off); v != 0 && c.r.Off < 0xf8 {
			t.Errorf("a refused relocation wrote %#x at +%#x", v, c.r.Off)
		}
	}
	_, err := NewRela(".rela.text", 7, ".text", base, 0x100, elf.Rela64{Info: elf.R_INFO(9, uint32(elf.R_X86_64_64))}, syms)
	if err == nil || !strings.Contains(err.Error(), "section .rela.text: relocation 7 at .text+0x0: R_X86_64_64: bad symbol index 9 (3 symbols)") {
		t.Errorf("bad symbol index: %v", err)
	}
}
