package symtab

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// checkTable verifies the invariants of a parsed table and exercises the
// look-up code on it.
func checkTable(t *testing.T, tab *Table) {
	for i, e := range tab.Entries {
		if e.Shndx == elf.SHN_UNDEF || e.Type == elf.STT_SECTION {
			t.Fatalf("entry %d kept: %+v", i, e)
		}
		found := false
		for _, j := range tab.Named(e.Name) {
			if int(j) == i {
				found = true
			}
		}
		if !found {
			t.Fatalf("entry %d (%q) not indexed by name", i, e.Name)
		}
	}
	blocks := tab.FileBlocks()
	if len(blocks) != len(tab.Files()) {
		t.Fatalf("%d blocks for %d files", len(blocks), len(tab.Files()))
	}
	l, err := NewLookup("vmlinux", tab, nil, blocks)
	if err != nil {
		// Identical blocks legitimately give duplicate matches.
		return
	}
	for bi := -1; bi < len(blocks); bi++ {
		for _, e := range tab.Entries {
			r, ok, err := l.Find(e.Name, bi)
			if err == nil && ok && !r.Global && r.Sympos == 0 {
				t.Fatalf("local %q found with sympos 0", e.Name)
			}
		}
	}
}

func FuzzParseReadelf(f *testing.F) {
	f.Add([]byte(readelfText(
		"0 0 FILE LOCAL ABS a.c",
		"10 1 FUNC LOCAL 1 foo",
		"0 0 FILE LOCAL ABS b.c",
		"20 1 FUNC LOCAL 1 foo",
		"30 1 FUNC GLOBAL 1 main",
	)))
	f.Add([]byte(synthReadelf(60, 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseReadelf("fuzz", data)
		if err != nil {
			return
		}
		checkTable(t, tab)
	})
}

func FuzzParseSymvers(f *testing.F) {
	f.Add([]byte("0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\n0x2\tf\tdrivers/a-b\tEXPORT_SYMBOL_GPL\tNS\n"))
	f.Add([]byte("0x1\tprintk\t\tvmlinux\tEXPORT_SYMBOL\n0x1\tprintk\tNS\tvmlinux\tEXPORT_SYMBOL\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sv, err := ParseSymvers("fuzz", data)
		if err != nil {
			return
		}
		tab, err := ParseReadelf("empty", nil)
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLookup("vmlinux", tab, sv, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sv.Exports {
			if e.Name == "" || e.Module == "" || bytes.ContainsAny([]byte(e.ObjName), "-/") && e.ObjName != "/" {
				t.Fatalf("bad export %+v", e)
			}
			r, ok, err := l.Find(e.Name, -1)
			if err == nil && (!ok || !r.Exported || r.Sympos != 0) {
				t.Fatalf("Find(%q) = %+v, %v", e.Name, r, ok)
			}
		}
	})
}

func FuzzParseELF(f *testing.F) {
	// A real object as seed when the corpus is there (always in CI); the
	// fuzz target itself needs nothing outside the repository.
	if dir, ok := testutil.OptionalCorpus(f); ok {
		data, err := os.ReadFile(filepath.Join(dir, "meminfo-string.ORIG.o"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseELF("fuzz", bytes.NewReader(data))
		if err != nil {
			return
		}
		checkTable(t, tab)
	})
}
