package elfobj_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// archCorpus returns the folder of the kpatch unit-object corpus for arch
// (a sibling of the x86_64 folder), or reports it Missing.
func archCorpus(t *testing.T, arch string) []string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(testutil.CorpusDir(t)), arch)
	objs, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	if len(objs) == 0 {
		testutil.Missing(t, "no %s objects in %s", arch, dir)
	}
	return objs
}

// TestRoundTripExact reads every object of every architecture's corpus
// and writes it back unchanged: the bytes must be identical, in both byte
// orders.
func TestRoundTripExact(t *testing.T) {
	for _, arch := range []string{"x86_64", "s390x", "ppc64le", "aarch64", "loongarch64"} {
		t.Run(arch, func(t *testing.T) {
			for _, path := range archCorpus(t, arch) {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				f, err := elfobj.Read(path, b)
				if err != nil {
					t.Fatal(err)
				}
				out, err := f.Write()
				if err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(b, out); i >= 0 {
					t.Errorf("%s: written object differs from the input at byte %#x (sizes %d, %d)", filepath.Base(path), i, len(b), len(out))
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestBigEndianEdit edits big-endian s390x objects the way the diff engine
// does (a symbol value, a dropped relocation, a dropped section) and checks
// that the result reads back with the edits, in big-endian, and that
// readelf accepts it.
func TestBigEndianEdit(t *testing.T) {
	readelf := testutil.NeedTool(t, "readelf")
	for _, path := range archCorpus(t, "s390x") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := elfobj.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Data != elf.ELFDATA2MSB || f.Machine != elf.EM_S390 {
				t.Fatalf("read as %v %v, want big-endian EM_S390", f.Data, f.Machine)
			}
			var rela *elfobj.Section
			for _, s := range f.Sections {
				if s.IsRela() && len(s.Relocs) > 1 && rela == nil {
					rela = s
				}
			}
			if rela == nil {
				t.Skip("no relocation section with two entries")
			}
			want := rela.Relocs[1]
			rela.Relocs = rela.Relocs[1:]
			last := f.Symbols[len(f.Symbols)-1]
			last.Value += 0x1234
			last.Name += "_renamed"
			// Drop the last section that nothing refers to by pointer.
			comment := f.SectionByName(".comment")
			if comment != nil && comment.Sym == nil {
				var keep []*elfobj.Section
				for _, s := range f.Sections {
					if s != comment {
						keep = append(keep, s)
					}
				}
				f.Sections = keep
			}
			out, err := f.Write()
			if err != nil {
				t.Fatal(err)
			}
			g, err := elfobj.Read("out", out)
			if err != nil {
				t.Fatalf("re-read: %v", err)
			}
			gr := g.SectionByName(rela.Name)
			if len(gr.Relocs) != len(rela.Relocs) || gr.Relocs[0].Offset != want.Offset || gr.Relocs[0].Type != want.Type ||
				gr.Relocs[0].Addend != want.Addend || gr.Relocs[0].Sym.Name != want.Sym.Name {
				t.Errorf("%s: relocations not kept: got %+v first, want %+v", rela.Name, gr.Relocs[0], want)
			}
			if got := g.Symbols[len(g.Symbols)-1]; got.Value != last.Value || got.Name != last.Name {
				t.Errorf("last symbol %s value %#x, want %s %#x", got.Name, got.Value, last.Name, last.Value)
			}
			if comment != nil && g.SectionByName(".comment") != nil && comment.Sym == nil {
				t.Errorf(".comment still there")
			}
			tmp := filepath.Join(t.TempDir(), "o.o")
			if err := os.WriteFile(tmp, out, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(readelf, "-a", "--wide", tmp)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("readelf: %v %s", err, stderr.String())
			}
		})
	}
}

// TestTruncatedBigEndian cuts a big-endian s390x object at points inside
// its header, its section data and its section header table: each must
// be refused with a FormatError naming the file and saying it is
// truncated.
func TestTruncatedBigEndian(t *testing.T) {
	objs := archCorpus(t, "s390x")
	path := objs[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	shoff := int(binary.BigEndian.Uint64(b[0x28:]))
	for _, n := range []int{3, 40, shoff - 1, shoff + 100, len(b) - 1} {
		_, err := elfobj.Read(path, b[:n])
		var fe *elfobj.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("cut at %d: got %v, want a *FormatError", n, err)
			continue
		}
		if fe.File != path || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut at %d: %v: want the file name and \"truncated\"", n, err)
		}
	}
}

// TestKeptLayoutEdit changes one symbol's value in a big-endian object:
// the layout still fits, so the output differs from the input in that
// symbol's st_value only (8 bytes at offset 8 of its entry), written
// big-endian.
func TestKeptLayoutEdit(t *testing.T) {
	path := archCorpus(t, "s390x")[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elfobj.Read(path, b)
	if err != nil {
		t.Fatal(err)
	}
	sym := f.Symbols[len(f.Symbols)-1]
	sym.Value = 0x0102030405060708
	out, err := f.Write()
	if err != nil {
		t.Fatal(err)
	}
	symtab := f.SectionByName(".symtab")
	at := int(shdrOffset(b, symtab.Index)) + sym.Index*24 + 8
	want := append([]byte(nil), b...)
	copy(want[at:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if i := firstDiff(want, out); i >= 0 {
		t.Errorf("output differs from the input with the new value at byte %#x (the value is at %#x)", i, at)
	}
}

// shdrOffset returns sh_offset of section i of a big-endian ELF64 object.
func shdrOffset(b []byte, i int) uint64 {
	be := binary.BigEndian
	return be.Uint64(b[be.Uint64(b[0x28:])+uint64(i)*64+24:])
}
