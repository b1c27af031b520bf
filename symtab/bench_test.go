package symtab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

var (
	synthOnce sync.Once
	synth1e5  []byte
	synth1e6  []byte
)

const synthPerFile = 20

func synthData(b *testing.B, n int) []byte {
	b.Helper()
	synthOnce.Do(func() {
		synth1e5 = []byte(synthReadelf(100_000, synthPerFile))
		synth1e6 = []byte(synthReadelf(1_000_000, synthPerFile))
	})
	if n == 100_000 {
		return synth1e5
	}
	return synth1e6
}

func TestSynthReadelf(t *testing.T) {
	data := []byte(synthReadelf(10_000, synthPerFile))
	tab, err := ParseReadelf("synth", data)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 10_000 {
		t.Fatalf("got %d entries", tab.Len())
	}
	// Every file name is used twice; the locals tell the blocks apart.
	nfiles := len(tab.Files())
	var blocks []FileBlock
	for f := 0; f < nfiles; f++ {
		blocks = append(blocks, synthBlock(f, synthPerFile, nfiles))
	}
	l, err := NewLookup("vmlinux", tab, nil, blocks)
	if err != nil {
		t.Fatal(err)
	}
	for f := 0; f < nfiles; f++ {
		r, ok, err := l.Find("init_once", f)
		if err != nil || !ok || r.Sympos != uint64(f+1) {
			t.Fatalf("init_once in block %d: %+v %v %v", f, r, ok, err)
		}
	}
}

func BenchmarkParseReadelf(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		data := synthData(b, n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseReadelf("synth", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseELF(b *testing.B) {
	p := testutil.CorpusFile(b, "unique-id-pr-1314.ORIG.o")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseELF(filepath.Base(p), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func synthLookup(b *testing.B, n int) (*Lookup, int) {
	b.Helper()
	tab, err := ParseReadelf("synth", synthData(b, n))
	if err != nil {
		b.Fatal(err)
	}
	nf := len(tab.Files())
	blocks := []FileBlock{synthBlock(3, synthPerFile, nf), synthBlock(nf-1, synthPerFile, nf)}
	l, err := NewLookup("vmlinux", tab, nil, blocks)
	if err != nil {
		b.Fatal(err)
	}
	return l, len(tab.Files())
}

func BenchmarkNewLookup(b *testing.B) {
	tab, err := ParseReadelf("synth", synthData(b, 1_000_000))
	if err != nil {
		b.Fatal(err)
	}
	nf := len(tab.Files())
	blocks := []FileBlock{synthBlock(3, synthPerFile, nf), synthBlock(nf-1, synthPerFile, nf)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewLookup("vmlinux", tab, nil, blocks); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFind(b *testing.B) {
	l, _ := synthLookup(b, 1_000_000)
	cases := []struct {
		name, sym string
		block     int
	}{
		{"local", "static_3_7", 0},
		// init_once is in every file: ~24k same-named locals to count.
		{"local-common-name", "init_once", 1},
		{"global", "global_999990", 0},
		{"missing", "no_such_symbol", 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := l.Find(c.sym, c.block); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
