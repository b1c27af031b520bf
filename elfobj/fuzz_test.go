package elfobj_test

import (
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// genSeeds rewrites the seed corpus of FuzzRead (testdata/fuzz/FuzzRead/seed-*)
// from the diff-case objects: go test ./elfobj/ -run=TestFuzzReadSeeds -args -genseeds
var genSeeds = flag.Bool("genseeds", false, "rewrite the generated fuzz seed corpus")

// FuzzRead feeds arbitrary bytes to Read. Read must return a File or an
// error, never panic; a File must either Write or fail with an error; and
// whatever Write produces must Read back.
func FuzzRead(f *testing.F) {
	for _, p := range []string{"changed-func/orig.o", "new-func/patched.o"} {
		b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const name = "fuzz.o"
		obj, err := elfobj.Read(name, b)
		if err != nil {
			checkFormatError(t, err, name)
			return
		}
		out, err := obj.Write()
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Write error does not name the file: %v", err)
			}
			return
		}
		if _, err := elfobj.Read("rewritten.o", out); err != nil {
			t.Fatalf("Read of Write's output: %v", err)
		}
	})
}

// checkFormatError checks that a Read error is a *FormatError naming the
// file.
func checkFormatError(t *testing.T, err error, name string) {
	t.Helper()
	fe, ok := err.(*elfobj.FormatError)
	if !ok {
		t.Fatalf("Read error is %T, want *elfobj.FormatError: %v", err, err)
	}
	if fe.File != name || !strings.HasPrefix(err.Error(), name+": ") {
		t.Fatalf("Read error does not name the file %q: %v", name, err)
	}
	if fe.Msg == "" {
		t.Fatalf("Read error has no message: %v", err)
	}
}

// seedObjects are the diff-case objects the seed corpora start from.
var seedObjects = []string{"changed-func/orig.o", "changed-func/patched.o", "new-func/patched.o", "bug-table/patched.o"}

// shdr locates field off of section header i of a little-endian ELF64
// object.
func shdr(b []byte, i int, off int) []byte {
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	return b[int(shoff)+i*64+off:]
}

// firstSection returns the index of the first section of type typ.
func firstSection(b []byte, typ elf.SectionType) int {
	n := int(binary.LittleEndian.Uint16(b[0x3c:]))
	for i := 1; i < n; i++ {
		if elf.SectionType(binary.LittleEndian.Uint32(shdr(b, i, 4))) == typ {
			return i
		}
	}
	panic(fmt.Sprintf("no section of type %v", typ))
}

// seedMutations are corruptions of a real object, applied to a copy.
var seedMutations = []struct {
	name string
	mut  func(b []byte) []byte
}{
	{"trunc-ehdr", func(b []byte) []byte { return b[:40] }},
	{"trunc-shdr", func(b []byte) []byte { return b[:len(b)-100] }},
	{"shstrndx", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x3e:], 200); return b }},
	{"shnum0", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x3c:], 0); return b }},
	{"symtab-link", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(shdr(b, firstSection(b, elf.SHT_SYMTAB), 40), 99)
		return b
	}},
	{"rela-info", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(shdr(b, firstSection(b, elf.SHT_RELA), 44), 99)
		return b
	}},
	{"rela-sym", func(b []byte) []byte {
		off := binary.LittleEndian.Uint64(shdr(b, firstSection(b, elf.SHT_RELA), 24))
		binary.LittleEndian.PutUint32(b[off+12:], 999)
		return b
	}},
	{"rela-offset", func(b []byte) []byte {
		off := binary.LittleEndian.Uint64(shdr(b, firstSection(b, elf.SHT_RELA), 24))
		binary.LittleEndian.PutUint64(b[off:], 0x10000)
		return b
	}},
	{"sym-shndx", func(b []byte) []byte {
		off := binary.LittleEndian.Uint64(shdr(b, firstSection(b, elf.SHT_SYMTAB), 24))
		binary.LittleEndian.PutUint16(b[off+2*24+6:], 300)
		return b
	}},
	{"no-symtab", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(shdr(b, firstSection(b, elf.SHT_SYMTAB), 4), uint32(elf.SHT_PROGBITS))
		return b
	}},
	{"big-endian", func(b []byte) []byte { b[elf.EI_DATA] = byte(elf.ELFDATA2MSB); return b }},
	{"xindex", func(b []byte) []byte {
		off := binary.LittleEndian.Uint64(shdr(b, firstSection(b, elf.SHT_SYMTAB), 24))
		binary.LittleEndian.PutUint16(b[off+3*24+6:], uint16(elf.SHN_XINDEX))
		return b
	}},
}

// writeSeed writes one []byte input in the "go test fuzz v1" format.
func writeSeed(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFuzzReadSeeds regenerates testdata/fuzz/FuzzRead/seed-* with
// -genseeds; without it, it checks that the seed corpus is present.
func TestFuzzReadSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if !*genSeeds {
		seeds, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		if len(seeds) == 0 {
			t.Fatalf("no seeds in %s: run go test ./elfobj/ -run=TestFuzzReadSeeds -args -genseeds", dir)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, p := range old {
		os.Remove(p)
	}
	for _, obj := range seedObjects {
		b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", obj))
		if err != nil {
			t.Fatal(err)
		}
		base := "seed-" + strings.NewReplacer("/", "-", ".o", "").Replace(obj)
		writeSeed(t, dir, base, b)
		if obj != seedObjects[0] {
			continue
		}
		for _, m := range seedMutations {
			writeSeed(t, dir, base+"-"+m.name, m.mut(append([]byte(nil), b...)))
		}
	}
}
