package elfdiff_test

import (
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// genSeeds rewrites the seed corpus of FuzzDiff (testdata/fuzz/FuzzDiff/seed-*):
// go test ./elfdiff/ -run=TestFuzzDiffSeeds -args -genseeds
var genSeeds = flag.Bool("genseeds", false, "rewrite the generated fuzz seed corpus")

// fuzzOrig is the fixed ORIG object of FuzzDiff.
var fuzzOrig = filepath.Join("testdata", "diffcases", "changed-func", "orig.o")

// FuzzDiff diffs the fixed ORIG object against fuzzed bytes as PATCHED.
// Diff must not panic (its recover turns a panic into an "internal error",
// which counts as a failure here), its exit status must be one of 0..3,
// and a successful diff's output must write and read back.
func FuzzDiff(f *testing.F) {
	origPath := filepath.Join(testutil.RepoRoot(), fuzzOrig)
	origBytes, err := os.ReadFile(origPath)
	if err != nil {
		f.Fatal(err)
	}
	tab, err := symtab.Load(origPath)
	if err != nil {
		f.Fatal(err)
	}
	patched, err := os.ReadFile(filepath.Join(filepath.Dir(origPath), "patched.o"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(patched)
	fuzzDiff(f, origBytes, tab, caseEnv)
}

// FuzzDiffArch diffs each non-x86 architecture's largest corpus ORIG
// against fuzzed bytes as PATCHED (seeded with the case's PATCHED), with
// the checks of FuzzDiff. The corpus lives outside the repository, so
// the target skips when it is absent:
// go test ./elfdiff/ -run '^$' -fuzz FuzzDiffArch -fuzztime 60s
func FuzzDiffArch(f *testing.F) {
	fuzzDiffCorpusCase(f, "aarch64", "special-static", "aarch64", "loongarch64")
}

// fuzzDiffCorpusCase fuzzes PATCHED against the ORIG of the corpus case
// arch/name, seeded with every PATCHED object of the seed architectures'
// corpus folders.
func fuzzDiffCorpusCase(f *testing.F, arch, name string, seeds ...string) {
	c := corpusCaseOf(f, arch, name)
	origBytes, err := os.ReadFile(c.orig)
	if err != nil {
		f.Fatal(err)
	}
	tab, err := symtab.Load(c.orig)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range seeds {
		for _, cc := range loadCorpusDir(f, archCorpusDir(f, seed)) {
			b, err := os.ReadFile(cc.patched)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	fuzzDiff(f, origBytes, tab, c.env)
}

// fuzzDiff runs the fuzz body: origBytes against the fuzzed PATCHED.
func fuzzDiff(f *testing.F, origBytes []byte, tab *symtab.Table, env map[string]string) {
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := elfobj.Read("fuzz/patched.o", b)
		if err != nil {
			return // FuzzRead covers the reader
		}
		// A fresh ORIG every time: Diff may annotate its inputs.
		o, err := elfobj.Read("fuzz/orig.o", origBytes)
		if err != nil {
			t.Fatal(err)
		}
		res, err := elfdiff.Diff(o, p, elfdiff.Options{Table: tab, Getenv: getenv, OutputName: "fuzz/output.o"})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Diff panicked (recovered): %v", err)
		}
		code := elfdiff.ExitCode(err)
		if code < 0 || code > 3 {
			t.Fatalf("ExitCode = %d, want 0..3 (err %v)", code, err)
		}
		if res == nil || res.Report == nil {
			t.Fatalf("Diff returned no result or no report (err %v)", err)
		}
		if code != elfdiff.ExitOK {
			return
		}
		if res.Output == nil {
			t.Fatal("Diff succeeded without an output object")
		}
		out, err := res.Output.Write()
		if err != nil {
			t.Fatalf("Diff succeeded, but its output does not write: %v", err)
		}
		if _, err := elfobj.Read("fuzz/output.o", out); err != nil {
			t.Fatalf("Diff's output does not read back: %v", err)
		}
	})
}

// shdr returns field off of section header i of a little-endian ELF64
// object.
func shdr(b []byte, i int, off int) []byte {
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	return b[int(shoff)+i*64+off:]
}

// sectionNamed returns the index of the section named name.
func sectionNamed(b []byte, name string) int {
	n := int(binary.LittleEndian.Uint16(b[0x3c:]))
	strndx := int(binary.LittleEndian.Uint16(b[0x3e:]))
	stroff := binary.LittleEndian.Uint64(shdr(b, strndx, 24))
	for i := 1; i < n; i++ {
		off := stroff + uint64(binary.LittleEndian.Uint32(shdr(b, i, 0)))
		if strings.HasPrefix(string(b[off:]), name+"\x00") {
			return i
		}
	}
	panic("no section " + name)
}

// secData returns the data of the section named name.
func secData(b []byte, name string) []byte {
	i := sectionNamed(b, name)
	off := binary.LittleEndian.Uint64(shdr(b, i, 24))
	size := binary.LittleEndian.Uint64(shdr(b, i, 32))
	return b[off : off+size]
}

// diffSeedMutations are corruptions of changed-func/patched.o; most keep
// the object readable, so that they reach the diff engine.
var diffSeedMutations = []struct {
	name string
	mut  func(b []byte)
}{
	{"code-byte", func(b []byte) { secData(b, ".text.clamp_counter")[8] ^= 0xff }},
	{"unchanged-code", func(b []byte) { secData(b, ".text.unchanged_neighbour")[6] ^= 0x01 }},
	{"rela-type", func(b []byte) { secData(b, ".rela.text.clamp_counter")[8] = byte(elf.R_X86_64_32S) }},
	{"rela-addend", func(b []byte) { secData(b, ".rela.text.clamp_counter")[16] = 0x40 }},
	{"rela-sym", func(b []byte) { secData(b, ".rela.text.clamp_counter")[12] = 7 }},
	{"mcount-sym", func(b []byte) { secData(b, ".rela__mcount_loc")[12] = 4 }},
	{"sym-local", func(b []byte) { secData(b, ".symtab")[4*24+4] = byte(elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC)) }},
	{"sym-size", func(b []byte) { secData(b, ".symtab")[7*24+16] = 0x40 }},
	{"sym-section", func(b []byte) { secData(b, ".symtab")[6*24+6] = 4 }},
	{"sym-rename", func(b []byte) {
		s := secData(b, ".strtab")
		if i := strings.Index(string(s), "unchanged_neighbour"); i >= 0 {
			s[i] = 'U'
		}
	}},
	{"sec-flags", func(b []byte) {
		binary.LittleEndian.PutUint64(shdr(b, sectionNamed(b, ".text.clamp_counter"), 8), uint64(elf.SHF_ALLOC))
	}},
	{"sec-type", func(b []byte) {
		binary.LittleEndian.PutUint32(shdr(b, sectionNamed(b, ".data.counter_limit"), 4), uint32(elf.SHT_NOBITS))
	}},
}

func writeSeed(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFuzzDiffSeeds regenerates testdata/fuzz/FuzzDiff/seed-* with
// -genseeds; without it, it checks that every mutation still reads (a
// seed the reader refuses never reaches Diff).
func TestFuzzDiffSeeds(t *testing.T) {
	root := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases")
	patched, err := os.ReadFile(filepath.Join(root, "changed-func", "patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDiff")
	if *genSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, p := range old {
			os.Remove(p)
		}
		for _, c := range []string{"changed-func/orig.o", "new-func/patched.o", "bug-table/patched.o"} {
			b, err := os.ReadFile(filepath.Join(root, c))
			if err != nil {
				t.Fatal(err)
			}
			writeSeed(t, dir, "seed-"+strings.NewReplacer("/", "-", ".o", "").Replace(c), b)
		}
	}
	for _, m := range diffSeedMutations {
		b := append([]byte(nil), patched...)
		m.mut(b)
		if _, err := elfobj.Read("patched.o", b); err != nil {
			t.Errorf("mutation %s: the reader refuses it: %v", m.name, err)
		}
		if *genSeeds {
			writeSeed(t, dir, "seed-changed-func-patched-"+m.name, b)
		}
	}
}
