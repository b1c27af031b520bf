package relocs

import (
	"bytes"
	"debug/elf"
	"errors"
	"testing"
)

func TestX86Field(t *testing.T) {
	a := &x86_64
	const P = 0xffffffffa0001000
	for _, c := range []struct {
		name string
		typ  elf.R_X86_64
		S    uint64
		A    int64
		want []byte
		err  string
	}{
		{"64", elf.R_X86_64_64, 0xffffffff81000010, 8, []byte{0x18, 0, 0, 0x81, 0xff, 0xff, 0xff, 0xff}, ""},
		{"pc64", elf.R_X86_64_PC64, P + 0x20, -4, []byte{0x1c, 0, 0, 0, 0, 0, 0, 0}, ""},
		{"pc32 forward", elf.R_X86_64_PC32, P + 0x104, -4, []byte{0, 1, 0, 0}, ""},
		{"plt32 backward", elf.R_X86_64_PLT32, P - 0x100, -4, []byte{0xfc, 0xfe, 0xff, 0xff}, ""},
		{"pc32 too far", elf.R_X86_64_PC32, 0xffff888000000000, -4, nil,
			"R_X86_64_PC32: value 0xffff88805fffeffc does not fit in a 32-bit signed field"},
		{"32s kernel address", elf.R_X86_64_32S, 0xffffffff81000000, 0, []byte{0, 0, 0, 0x81}, ""},
		{"32s too low", elf.R_X86_64_32S, 0xffff888000000000, 0, nil,
			"R_X86_64_32S: value 0xffff888000000000 does not fit in a 32-bit signed field"},
		{"32 small", elf.R_X86_64_32, 0x80000000, 4, []byte{4, 0, 0, 0x80}, ""},
		{"32 kernel address", elf.R_X86_64_32, 0xffffffff81000000, 0, nil,
			"R_X86_64_32: value 0xffffffff81000000 does not fit in a 32-bit unsigned field"},
		{"none", elf.R_X86_64_NONE, 0, 0, []byte{}, ""},
		{"gotpcrel", elf.R_X86_64_GOTPCREL, 0, 0, nil, "unsupported relocation type R_X86_64_GOTPCREL (9)"},
		{"unknown", elf.R_X86_64(200), 0, 0, nil, "unsupported relocation type R_x86_64_200 (200)"},
	} {
		got, err := a.Field(uint32(c.typ), c.S, c.A, P)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && !bytes.Equal(got, c.want):
			t.Errorf("%s: % x, want % x", c.name, got, c.want)
		}
	}
	_, err := a.Field(uint32(elf.R_X86_64_GOTPCRELX), 0, 0, 0)
	if !errors.Is(err, ErrNotApplicable) {
		t.Errorf("GOTPCRELX: %v is not ErrNotApplicable", err)
	}
	_, err = a.Field(uint32(elf.R_X86_64_32), 1<<32, 0, 0)
	var re *RangeError
	if !errors.As(err, &re) || re.Bits != 32 || !re.Unsigned {
		t.Errorf("32 overflow: %#v", err)
	}
}
