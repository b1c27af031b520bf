package proof

import (
	"debug/elf"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/relocs"
)

func x86(t *testing.T) *relocs.Arch {
	t.Helper()
	a, err := relocs.ForMachine(elf.EM_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A function as compiled (call __fentry__ with its relocation, mov, a
// jmp to a neighbour through a relocation, ret) and as linked in vmlinux.
var (
	objFunc = []byte{
		0xe8, 0, 0, 0, 0, // call __fentry__ (R_X86_64_PLT32 at 1)
		0x48, 0x89, 0xf8, // mov %rdi,%rax
		0xe9, 0, 0, 0, 0, // jmp neighbour (R_X86_64_PLT32 at 9)
	}
	objSites = []site{{1, 5, MaskReloc}, {0, 5, MaskFentry}, {9, 13, MaskReloc}}
)

func TestCompare(t *testing.T) {
	kern := []byte{0x0f, 0x1f, 0x44, 0, 0, 0x48, 0x89, 0xf8, 0xe9, 0x10, 0x20, 0x30, 0x40}
	if d, m := compare(objFunc, kern, objSites, 0); d != -1 || !cmp.Equal(m, map[string]int{MaskFentry: 1, MaskReloc: 1}) {
		t.Errorf("linked copy: diff %d, masked %v; want -1 and one ftrace entry, one relocation", d, m)
	}
	altered := append([]byte(nil), kern...)
	altered[7] = 0xf0 // mov %rsi,%rax
	if d, _ := compare(objFunc, altered, objSites, 0); d != 7 {
		t.Errorf("changed register: diff at %d, want 7", d)
	}
	// The masks are section offsets: the function at 0x40 of its section.
	shifted := []site{{0x41, 0x45, MaskReloc}, {0x40, 0x45, MaskFentry}, {0x49, 0x4d, MaskReloc}}
	if d, _ := compare(objFunc, kern, shifted, 0x40); d != -1 {
		t.Errorf("function at 0x40: diff at %d, want none", d)
	}
	if d, _ := compare(objFunc, kern, nil, 0); d != 0 {
		t.Errorf("no masks: diff at %d, want 0", d)
	}
}

func TestCompareInsnsShortJump(t *testing.T) {
	a := x86(t)
	kern := []byte{0x0f, 0x1f, 0x44, 0, 0, 0x48, 0x89, 0xf8, 0xeb, 0x10} // jmp rel8
	if d, m := compareInsns(objFunc, kern, objSites, 0, a); d != -1 || m[MaskShortJump] != 1 {
		t.Errorf("relaxed jump: diff %d, masked %v; want none and one short jump", d, m)
	}
	// A short jump where the object has no relocation is a difference.
	if d, _ := compareInsns(objFunc, kern, objSites[:2], 0, a); d != 8 {
		t.Errorf("jump without relocation: diff at %d, want 8", d)
	}
	// jcc: 0f 84 rel32 (je) against 74 rel8 (je), not 75 (jne).
	obj := []byte{0x0f, 0x84, 0, 0, 0, 0, 0xc3}
	sites := []site{{2, 6, MaskReloc}}
	if d, _ := compareInsns(obj, []byte{0x74, 0x05, 0xc3}, sites, 0, a); d != -1 {
		t.Errorf("je rel32/rel8: diff at %d, want none", d)
	}
	if d, _ := compareInsns(obj, []byte{0x75, 0x05, 0xc3}, sites, 0, a); d != 0 {
		t.Errorf("je against jne: diff at %d, want 0", d)
	}
	// The kernel's function has one more instruction.
	if d, _ := compareInsns([]byte{0xc3}, []byte{0x90, 0xc3}, nil, 0, a); d != 0 {
		t.Errorf("extra instruction: diff at %d, want 0", d)
	}
	if d, _ := compareInsns([]byte{0x90, 0xc3}, []byte{0x90}, nil, 0, a); d != 1 {
		t.Errorf("missing instruction: diff at %d, want 1", d)
	}
}

func TestMismatchMessage(t *testing.T) {
	m := &Mismatch{Object: "fs/proc/loadavg.o", Function: "loadavg_proc_show", Parent: "vmlinux", Offset: 0x8c, ObjSize: 160, KernelSize: 160, Differing: 1, Compared: 2}
	want := "fs/proc/loadavg.o: function loadavg_proc_show is not the running kernel's (in vmlinux: first difference at offset 0x8c of 160 bytes): the source tree is not the running kernel's"
	if m.Error() != want {
		t.Errorf("message\n%s\nwant\n%s", m.Error(), want)
	}
	m.Differing, m.Compared = 30, 40
	if m.Cause() != "most of its functions differ: the configuration or the compiler is not the running kernel's" {
		t.Errorf("cause with 30 of 40 differing: %s", m.Cause())
	}
}

func TestDescribeLayoutChange(t *testing.T) {
	orig := layout{size: 48, members: []member{{"kref", 0, 4}, {"count", 32, 8}, {"flags", 40, 4}, {"id", 44, 4}}}
	for _, c := range []struct {
		patched layout
		want    string
	}{
		{layout{size: 56, members: []member{{"kref", 0, 4}, {"count", 32, 8}, {"writes", 40, 8}, {"flags", 48, 4}, {"id", 52, 4}}},
			"member writes added at offset 40; member flags moves from offset 40 to 48; size 48 becomes 56"},
		{layout{size: 48, members: []member{{"kref", 0, 4}, {"count", 32, 8}, {"id", 44, 4}}}, "member flags removed"},
		{layout{size: 48, members: []member{{"kref", 0, 4}, {"count", 32, 8}, {"flags", 40, 2}, {"id", 44, 4}}}, "member flags changes size from 4 to 2 bytes"},
		{layout{size: 64, members: orig.members}, "size 48 becomes 64"},
	} {
		if got := compareLayouts([]layout{orig}, []layout{c.patched}); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	if got := compareLayouts([]layout{orig}, []layout{{size: 8}, orig}); got != "" {
		t.Errorf("the same definition among others: %q", got)
	}
}
