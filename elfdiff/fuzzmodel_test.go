package elfdiff_test

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// mutate applies fuzz-chosen edits to a parsed object: each 4-byte group
// of ops picks an edit kind, a target and a value, so the mutated object is
// structurally valid and reaches the diff engine's deeper phases.
func mutate(f *elfobj.File, ops []byte) {
	for len(ops) >= 4 {
		kind, i, j, v := ops[0]%8, int(ops[1]), int(ops[2]), ops[3]
		ops = ops[4:]
		secs, syms := f.Sections, f.Symbols
		switch kind {
		case 0: // flip a byte of a section
			if s := secs[i%len(secs)]; len(s.Data) > 0 && s.Type != elf.SHT_SYMTAB && s.Type != elf.SHT_STRTAB && s.Type != elf.SHT_RELA {
				d := append([]byte(nil), s.Data...)
				d[(j*7+int(v))%len(d)] ^= v | 1
				s.Data = d
			}
		case 1: // change a relocation's addend
			if s := secs[i%len(secs)]; len(s.Relocs) > 0 {
				s.Relocs[j%len(s.Relocs)].Addend += int64(int8(v))
			}
		case 2: // point a relocation at another symbol
			if s := secs[i%len(secs)]; len(s.Relocs) > 0 {
				s.Relocs[j%len(s.Relocs)].Sym = syms[int(v)%len(syms)]
			}
		case 3: // change a relocation's type
			if s := secs[i%len(secs)]; len(s.Relocs) > 0 {
				s.Relocs[j%len(s.Relocs)].Type = uint32(v % 43)
			}
		case 4: // rename a symbol (numbered suffixes, clones, statics)
			if s := syms[i%len(syms)]; s.Type != elf.STT_SECTION && i%len(syms) != 0 {
				suffix := []string{".cold", ".part.0", ".isra.1", ".constprop.0", ".1", "__key.2", ".str1.1"}[int(v)%7]
				s.Name += suffix
			}
		case 5: // change a symbol's binding or type
			if s := syms[i%len(syms)]; i%len(syms) != 0 {
				if v&1 == 0 {
					s.Bind = elf.SymBind(v >> 1 % 3)
				} else {
					s.Type = elf.SymType(v >> 1 % 5)
				}
			}
		case 6: // change a symbol's value or size
			if s := syms[i%len(syms)]; i%len(syms) != 0 {
				if v&1 == 0 {
					s.Value += uint64(v >> 1)
				} else {
					s.Size = uint64(v)
				}
			}
		case 7: // drop a relocation
			if s := secs[i%len(secs)]; len(s.Relocs) > 0 {
				k := j % len(s.Relocs)
				s.Relocs = append(s.Relocs[:k:k], s.Relocs[k+1:]...)
			}
		}
	}
}

// FuzzDiffModel diffs a real ORIG against its PATCHED with fuzz-chosen
// structural edits (see mutate): deeper than FuzzDiff, whose byte-level
// mutations mostly stop at the reader. Diff must not panic, its exit status
// must be 0..3, and an output must write and read back.
func FuzzDiffModel(f *testing.F) {
	cases := []string{"changed-func", "cold-add", "static-local-renumbered", "bug-table", "jump-table", "callbacks", "ex-table", "altinstr"}
	type pair struct{ orig, patched []byte }
	var pairs []pair
	var tabs []*symtab.Table
	for _, c := range cases {
		dir := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", c)
		o, err1 := os.ReadFile(filepath.Join(dir, "orig.o"))
		p, err2 := os.ReadFile(filepath.Join(dir, "patched.o"))
		tab, err3 := symtab.Load(filepath.Join(dir, "orig.o"))
		if err1 != nil || err2 != nil || err3 != nil {
			f.Fatal(err1, err2, err3)
		}
		pairs = append(pairs, pair{o, p})
		tabs = append(tabs, tab)
	}
	for i := range cases {
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), []byte{0, 3, 5, 0x41, 1, 4, 2, 9, 4, 7, 0, 0})
		f.Add(uint8(i), []byte{2, 5, 1, 3, 6, 9, 9, 8, 5, 2, 0, 4})
	}
	getenv := func(k string) (string, bool) { v, ok := caseEnv[k]; return v, ok }
	f.Fuzz(func(t *testing.T, which uint8, ops []byte) {
		k := int(which) % len(pairs)
		o, err := elfobj.Read("fuzz/orig.o", pairs[k].orig)
		if err != nil {
			t.Fatal(err)
		}
		p, err := elfobj.Read("fuzz/patched.o", pairs[k].patched)
		if err != nil {
			t.Fatal(err)
		}
		mutate(p, ops)
		res, err := elfdiff.Diff(o, p, elfdiff.Options{Table: tabs[k], Getenv: getenv, OutputName: "fuzz/output.o"})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("Diff panicked (recovered): %v", err)
		}
		if code := elfdiff.ExitCode(err); code < 0 || code > 3 {
			t.Fatalf("exit %d", code)
		}
		if err == nil {
			b, werr := res.Output.Write()
			if werr != nil {
				// The output model must be writable.
				t.Fatalf("write output: %v", werr)
			}
			if _, rerr := elfobj.Read("out", b); rerr != nil {
				t.Fatalf("re-read output: %v", rerr)
			}
		}
	})
}
