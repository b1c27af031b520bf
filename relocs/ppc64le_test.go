package relocs

import (
	"debug/elf"
	"encoding/binary"
	"testing"
)

func le(words ...uint32) []byte {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestPPC64LocalEntry(t *testing.T) {
	for other, want := range map[uint8]uint64{0: 0, 1 << 5: 0, 2 << 5: 4, 3 << 5: 8, 3<<5 | 2: 8, 6 << 5: 64, 7 << 5: 0} {
		if got := PPC64LocalEntry(other); got != want {
			t.Errorf("PPC64LocalEntry(%#x) = %d, want %d", other, got, want)
		}
	}
}

func TestDecodePPC64(t *testing.T) {
	// mflr r0; bl _mcount; pld r3,0(0),1 (prefix 0x04100000 + suffix); blr
	text := le(0x7c0802a6, 0x48000001, 0x04100000, 0xe4600000, 0x4e800020)
	in, err := DecodePPC64(text)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]uint32
	for i := 0; i < in.Len(); i++ {
		s, e := in.At(i)
		got = append(got, [2]uint32{s, e})
	}
	want := [][2]uint32{{0, 4}, {4, 8}, {8, 16}, {16, 20}}
	if len(got) != len(want) {
		t.Fatalf("layout %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layout %v, want %v", got, want)
		}
	}
	if _, err := DecodePPC64(text[:6]); err == nil {
		t.Error("a 6-byte section decoded")
	}
	if _, err := DecodePPC64(le(0x60000000, 0x04100000)); err == nil {
		t.Error("a prefix at the end of the section decoded")
	}
}

func TestPPC64Instructions(t *testing.T) {
	for _, c := range []struct {
		w    uint32
		line bool
	}{{0x38a009a6, true}, {0x38800001, true}, {0x38600001, false}, {0x38a50001, false}, {0x7c0802a6, false}} {
		if got := PPC64LineArgLoad(le(c.w)); got != c.line {
			t.Errorf("PPC64LineArgLoad(%#x) = %v, want %v", c.w, got, c.line)
		}
	}
	if !PPC64UnlinkedBranch(0x48000000) || PPC64UnlinkedBranch(0x48000001) || PPC64UnlinkedBranch(0x4bfffffc) {
		t.Error("PPC64UnlinkedBranch: only an unrelocated b . is a sibling-call candidate")
	}
	if !PPC64LoaderOnly(elf.R_PPC64_REL64, ".text.f") || PPC64LoaderOnly(elf.R_PPC64_REL64, "__jump_table") ||
		!PPC64LoaderOnly(elf.R_PPC64_ENTRY, ".text.f") || PPC64LoaderOnly(elf.R_PPC64_ADDR64, ".toc") {
		t.Error("PPC64LoaderOnly misclassifies")
	}
	if !PPC64TOCRelative(elf.R_PPC64_TOC16_HA) || !PPC64TOCRelative(elf.R_PPC64_TOC16_LO_DS) || PPC64TOCRelative(elf.R_PPC64_REL24) {
		t.Error("PPC64TOCRelative misclassifies")
	}
	if _, ok := PPC64Word([]byte{1, 2, 3}, 0); ok {
		t.Error("PPC64Word read past the end")
	}
}
