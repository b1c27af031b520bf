package relocs

import (
	"debug/elf"
	"path/filepath"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestFastLenMatchesX86asm walks every text section of the kpatch corpus
// and of the project's own test objects with x86asm, and checks that the
// fast length decoder, wherever it answers, gives the same length.
func TestFastLenMatchesX86asm(t *testing.T) {
	var paths []string
	own, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "*", "*.o"))
	paths = append(paths, own...)
	if dir, ok := testutil.OptionalCorpus(t); ok {
		c, _ := filepath.Glob(filepath.Join(dir, "*.o"))
		paths = append(paths, c...)
	}
	insns, fast := 0, 0
	for _, p := range paths {
		f, err := elfobj.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Sections {
			if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR == 0 {
				continue
			}
			for pc := 0; pc < len(s.Data); {
				b := s.Data[pc:]
				inst, err := x86asm.Decode(b, 64)
				n := inst.Len
				if len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa {
					n, err = 4, nil
				}
				if err != nil {
					if m, ok := systemInsnLen(b); ok {
						n, err = m, nil
					}
				}
				if err != nil {
					break // data in text: the rest of the section is not code
				}
				insns++
				if m, ok := FastLen(b); ok {
					fast++
					if m != n {
						t.Fatalf("%s %s+%#x (% x): fast length %d, x86asm %d", filepath.Base(p), s.Name, pc, b[:min(n, 15)], m, n)
					}
				}
				pc += n
			}
		}
	}
	if insns == 0 {
		t.Fatal("no instructions decoded")
	}
	t.Logf("%d instructions, %d (%.1f%%) sized by the fast decoder", insns, fast, 100*float64(fast)/float64(insns))
	if fast*10 < insns*9 {
		t.Errorf("fast decoder sized only %d of %d instructions", fast, insns)
	}
}

func BenchmarkDecodeX86(b *testing.B) {
	p := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "part-clone", "orig.o")
	f, err := elfobj.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	var texts [][]byte
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 && s.Type == elf.SHT_PROGBITS {
			texts = append(texts, s.Data)
		}
	}
	for b.Loop() {
		for _, t := range texts {
			DecodeX86(t)
		}
	}
}
