package cpu

import (
	"debug/elf"
	"os"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestDecodeCoverage decodes every function of the differential-test
// image, linearly, and requires each instruction to be one the CPU
// implements. Set CPU_COVERAGE_ELF to an ELF file (a vmlinux) to check it
// as well.
func TestDecodeCoverage(t *testing.T) {
	files := []string{}
	if p := os.Getenv("CPU_COVERAGE_ELF"); p != "" {
		files = append(files, p)
	} else {
		needTools(t)
		files = append(files, buildEmu(t, t.TempDir(), []string{"-pg", "-mfentry"}, diffSources...))
	}
	for _, path := range files {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		syms, err := f.Symbols()
		if err != nil {
			t.Fatal(err)
		}
		c := New(nil, Config{})
		count := 0
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || int(s.Section) >= len(f.Sections) {
				continue
			}
			sec := f.Sections[s.Section]
			data, err := sec.Data()
			if err != nil {
				t.Fatal(err)
			}
			off := s.Value - sec.Addr
			code := data[off : off+s.Size]
			for pc := 0; pc < len(code); {
				raw := code[pc:]
				if len(raw) > 15 {
					raw = raw[:15]
				}
				in, _ := c.translate(s.Value+uint64(pc), raw, nil)
				if in.op == opUnimpl || (in.op == opUD && in.imm != 0) {
					x, _ := x86asm.Decode(raw, 64)
					t.Errorf("%s: %s+%#x: % x: %s not supported", path, s.Name, pc, raw[:max(in.len, 1)], x86asm.GNUSyntax(x, 0, nil))
				}
				count++
				pc += int(max(in.len, 1))
			}
		}
		t.Logf("%s: %d instructions", path, count)
	}
}
