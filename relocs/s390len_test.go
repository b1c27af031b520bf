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

// TestS390xArch checks the s390x table: the offset each relocation type
// designates, the entry forms, the line-number loads and the expoline
// thunks.
func TestS390xArch(t *testing.T) {
	a, err := ForMachine(elf.EM_S390)
	if err != nil {
		t.Fatal(err)
	}
	text, err := a.DecodeText([]byte{0xc0, 0xe5, 0, 0, 0, 0, 0x07, 0xfe})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ    elf.R_390
		addend int64
		want   int64
	}{
		{elf.R_390_PLT32DBL, 2, 0}, // brasl %r14,foo
		{elf.R_390_PC32DBL, 0x12, 0x10},
		{elf.R_390_GOTENT, 2, 0},
		{elf.R_390_64, 8, 8},
		{elf.R_390_PC32, 4, 4},
	} {
		got, err := a.TargetOffset(text, uint32(tc.typ), 2, tc.addend)
		if err != nil || got != tc.want {
			t.Errorf("%v addend %d: %d, %v; want %d", tc.typ, tc.addend, got, err, tc.want)
		}
	}
	if _, err := a.TargetOffset(text, 0xfe, 2, 0); err == nil {
		t.Errorf("unknown type 0xfe: no error")
	}
	fn := []byte{0x07, 0x07, 0xc0, 0x04, 0, 0, 0, 0, 0xeb}
	if !a.EntryNop(fn, 2) || a.EntryNop(fn, 0) || a.EntryNop(fn, 8) || a.EntryNop(fn, 100) {
		t.Errorf("EntryNop: the jgnop is at offset 2 only")
	}
	if !a.IsEntryCall(uint32(elf.R_390_PLT32DBL), "__fentry__") || a.IsEntryCall(uint32(elf.R_390_64), "__fentry__") {
		t.Errorf("IsEntryCall: brasl __fentry__ (PLT32DBL) only")
	}
	for _, tc := range []struct {
		insn []byte
		want bool
	}{
		{[]byte{0xa7, 0x39, 0, 10}, true},            // lghi %r3,10
		{[]byte{0xa7, 0x48, 0, 10}, false},           // lhi %r4,10: gcc loads int constants with lghi
		{[]byte{0xc0, 0x41, 0, 1, 0x11, 0x71}, true}, // lgfi %r4,70001
		{[]byte{0xa5, 0x4f, 0x9c, 0x41}, true},       // llill %r4,40001
		{[]byte{0xa5, 0x4e, 0x9c, 0x41}, false},      // llilh %r4: the high half
		{[]byte{0xa7, 0x29, 0, 10}, false},           // lghi %r2: the first argument
		{[]byte{0xa7, 0x3a, 0, 1}, false},            // aghi %r3,1: not a load
		{[]byte{0xc0, 0x30, 0, 0, 0, 0}, false},      // larl %r3
		{[]byte{0xb9, 0x04, 0x00, 0x3b}, false},      // lgr %r3,%r11
	} {
		if got := a.LineArgLoad(tc.insn); got != tc.want {
			t.Errorf("LineArgLoad(% x) = %v, want %v", tc.insn, got, tc.want)
		}
	}
	if !a.AlwaysNormal("__s390_indirect_jump_r14") || a.AlwaysNormal("foo") {
		t.Errorf("AlwaysNormal: the expoline thunks only")
	}
	if a.Abs64 != uint32(elf.R_390_64) || a.TypeName(uint32(elf.R_390_GOTENT)) != "R_390_GOTENT" {
		t.Errorf("Abs64 %d, GOTENT named %q", a.Abs64, a.TypeName(uint32(elf.R_390_GOTENT)))
	}
}
