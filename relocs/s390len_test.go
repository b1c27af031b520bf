package relocs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// s390xCorpus returns the s390x objects of the kpatch unit-object corpus
// (the sibling of its x86_64 folder), or reports them Missing.
func s390xCorpus(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(testutil.CorpusDir(t)), "s390x")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.o"))
	if len(paths) == 0 {
		testutil.Missing(t, "no s390x objects in %s", dir)
	}
	return paths
}

func isText(s *elfobj.Section) bool {
	return s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0
}

// TestS390DecodeMatchesObjdump decodes every text section of the s390x
// corpus and checks each instruction boundary against the cross objdump's
// disassembly (which knows every opcode).
func TestS390DecodeMatchesObjdump(t *testing.T) {
	objdump := testutil.NeedTool(t, "s390x-linux-gnu-objdump")
	total := 0
	for _, p := range s390xCorpus(t) {
		f, err := elfobj.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", p).Output()
		if err != nil {
			t.Fatalf("%s: %v", objdump, err)
		}
		want := objdumpStarts(out)
		for _, s := range f.Sections {
			if !isText(s) || len(s.Data) == 0 {
				continue
			}
			in, err := DecodeS390Text(s.Data)
			if err != nil {
				t.Fatalf("%s %s: %v", filepath.Base(p), s.Name, err)
			}
			var got []uint32
			for i := 0; i < in.Len(); i++ {
				st, _ := in.At(i)
				got = append(got, st)
			}
			total += len(got)
			w := want[s.Name]
			if len(w) != len(got) {
				t.Errorf("%s %s: %d instructions, objdump %d", filepath.Base(p), s.Name, len(got), len(w))
				continue
			}
			for i := range w {
				if w[i] != got[i] {
					t.Errorf("%s %s: instruction %d at %#x, objdump %#x", filepath.Base(p), s.Name, i, got[i], w[i])
					break
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no instructions decoded")
	}
	t.Logf("%d instructions agree with objdump", total)
}

// objdumpStarts parses "objdump -d" output into each section's
// instruction offsets.
func objdumpStarts(out []byte) map[string][]uint32 {
	starts := map[string][]uint32{}
	sec := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if n, ok := strings.CutPrefix(l, "Disassembly of section "); ok {
			sec = strings.TrimSuffix(n, ":")
			continue
		}
		addr, rest, ok := strings.Cut(strings.TrimSpace(l), ":\t")
		if !ok || rest == "" {
			continue
		}
		v, err := strconv.ParseUint(addr, 16, 32)
		if err != nil {
			continue
		}
		starts[sec] = append(starts[sec], uint32(v))
	}
	return starts
}

// TestS390RelocFields checks the decoder against the relocations of the
// s390x corpus, without any tool: every halfword-scaled PC-relative or
// GOT-entry relocation in text patches the 4-byte field two bytes into a
// 6-byte instruction, so that instruction must start two bytes before it.
func TestS390RelocFields(t *testing.T) {
	n := 0
	for _, p := range s390xCorpus(t) {
		f, err := elfobj.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range f.Sections {
			if !rs.IsRela() || rs.Base == nil || !isText(rs.Base) {
				continue
			}
			in, err := DecodeS390Text(rs.Base.Data)
			if err != nil {
				t.Fatalf("%s %s: %v", filepath.Base(p), rs.Base.Name, err)
			}
			for _, r := range rs.Relocs {
				switch elf.R_390(r.Type) {
				case elf.R_390_PC32DBL, elf.R_390_PLT32DBL, elf.R_390_GOTENT:
				default:
					continue
				}
				end, ok := in.End(r.Offset)
				if !ok || end != r.Offset+4 || S390InsnLen(rs.Base.Data[r.Offset-2]) != 6 {
					t.Errorf("%s %s+%#x: %v field is not the last 4 bytes of a 6-byte instruction (ends at %#x)",
						filepath.Base(p), rs.Base.Name, r.Offset, elf.R_390(r.Type), end)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no relocations checked")
	}
}

func TestS390InsnLen(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{
		{[]byte{0x07, 0xfe}, 2},                         // br %r14
		{[]byte{0xa7, 0x39, 0, 10}, 4},                  // lghi %r3,10
		{[]byte{0xb9, 0x04, 0x00, 0xef}, 4},             // lgr %r14,%r15
		{[]byte{0xc0, 0x04, 0, 0, 0, 0}, 6},             // jgnop
		{[]byte{0xeb, 0xbf, 0xf0, 0x70, 0x00, 0x24}, 6}, // stmg
	} {
		if got := S390InsnLen(tc.b[0]); got != tc.want {
			t.Errorf("% x: length %d, want %d", tc.b, got, tc.want)
		}
	}
	// An instruction cut by the section's end is an error naming it.
	_, err := DecodeS390Text([]byte{0x07, 0xfe, 0xc0, 0x04, 0, 0})
	if err == nil || !strings.Contains(err.Error(), "offset 0x2") || !strings.Contains(err.Error(), "6-byte") {
		t.Errorf("truncated instruction: got %v", err)
	}
}
