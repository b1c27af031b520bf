package elfdiff_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
)

// s390xEntries are the two ways gcc marks an s390x function's ftrace
// entry: "brasl %r0,__fentry__" (-mfentry), and the 6-byte jgnop that
// -mnop-mcount puts in its place, found through __mcount_loc.
var s390xEntries = map[string][]string{
	"brasl": {"-pg", "-mfentry", "-mrecord-mcount"},
	"nop":   {"-pg", "-mfentry", "-mnop-mcount", "-mrecord-mcount"},
}

// s390xSource is a small kernel-style translation unit whose first line
// is numbered line; line and inc are what the patches vary.
func s390xSource(line int, inc int) string {
	return fmt.Sprintf(`#line %d
extern void __warn_printk(const char *fmt, ...);
extern int g(int);
int foo(int x)
{
	if (x > 3)
		__warn_printk("%%s:%%d\n", "f.c", __LINE__);
	return g(x) + %d;
}
int bar(int x) { return g(x + 7); }
`, line, inc)
}

// buildS390x compiles src for s390x with the kernel's section flags and
// the given entry flags.
func buildS390x(t *testing.T, name, src string, flags []string) string {
	t.Helper()
	cc := testutil.NeedTool(t, "s390x-linux-gnu-gcc-12")
	dir := t.TempDir()
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	o := filepath.Join(dir, name+".o")
	args := append([]string{"-O2", "-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables", "-c", "-o", o, c}, flags...)
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return o
}

// TestS390xCrossBuilt diffs s390x objects cross-built here, with both
// entry forms: a change of __LINE__ alone (decoded on this host: lghi
// into an argument register before __warn_printk) is no change, and a
// real change is a changed function whose __mcount_loc entry points at
// its first byte.
func TestS390xCrossBuilt(t *testing.T) {
	for form, flags := range s390xEntries {
		t.Run(form, func(t *testing.T) {
			orig := buildS390x(t, "orig", s390xSource(1, 1), flags)
			f, err := elfobj.Open(orig)
			if err != nil {
				t.Fatal(err)
			}
			if f.Data != elf.ELFDATA2MSB || f.Machine != elf.EM_S390 {
				t.Fatalf("%s is %v %v", orig, f.Data, f.Machine)
			}

			// gcc loads the line into %r4 with lghi, llill past 32767 and
			// lgfi past 65535.
			for _, first := range []int{1, 40000, 70000} {
				o := buildS390x(t, "orig", s390xSource(first, 1), flags)
				line := buildS390x(t, "line", s390xSource(first+2, 1), flags)
				_, err = diffPaths(t, o, line, nil, nil, nil)
				if code := elfdiff.ExitCode(err); code != elfdiff.ExitNoChange {
					t.Errorf("line-number change from line %d: exit %d (%v), want %d (no change)", first, code, err, elfdiff.ExitNoChange)
				}
			}

			changed := buildS390x(t, "changed", s390xSource(1, 2), flags)
			res, err := diffPaths(t, orig, changed, nil, nil, nil)
			if err != nil {
				t.Fatalf("real change: %v", err)
			}
			var changes []string
			for _, ch := range res.Report.Changes {
				changes = append(changes, ch.Kind+" "+ch.Function)
			}
			if got := strings.Join(changes, ","); got != "changed foo" {
				t.Errorf("changes %q, want \"changed foo\"", got)
			}
			out, g := writeOutput(t, res)
			if g.Data != elf.ELFDATA2MSB {
				t.Errorf("output is %v, want big-endian", g.Data)
			}
			m := g.SectionByName(".rela__mcount_loc")
			if m == nil || len(m.Relocs) != 1 {
				t.Fatalf("__mcount_loc relocations: %v", m)
			}
			r := m.Relocs[0]
			if elf.R_390(r.Type) != elf.R_390_64 || r.Sym.Name != "foo" || r.Addend != 0 {
				t.Errorf("__mcount_loc entry %v %s%+d, want R_390_64 foo+0", elf.R_390(r.Type), r.Sym.Name, r.Addend)
			}
			checkWellFormed(t, out)
		})
	}
}

// writeOutput writes a diff's output and reads it back.
func writeOutput(t *testing.T, res *elfdiff.Result) ([]byte, *elfobj.File) {
	t.Helper()
	out, err := res.Output.Write()
	if err != nil {
		t.Fatal(err)
	}
	g, err := elfobj.Read("out", out)
	if err != nil {
		t.Fatal(err)
	}
	return out, g
}

// TestS390xFunctionPointer checks the s390x function-pointer rule on
// cross-built objects: a changed function that loads the address of
// another changed function through its GOT slot (lgrl, R_390_GOTENT, as
// -fPIC code does) gets a livepatch relocation, so the pointer keeps
// designating the running kernel's original function, while its call to
// an external function stays a normal relocation.
func TestS390xFunctionPointer(t *testing.T) {
	src := `extern int g(int);
int bar(int x) { return g(x + %d); }
void *foo(int x) { g(x + %d); return bar; }
`
	flags := append([]string{"-fPIC"}, s390xEntries["nop"]...)
	orig := buildS390x(t, "orig", fmt.Sprintf(src, 7, 0), flags)
	patched := buildS390x(t, "patched", fmt.Sprintf(src, 8, 1), flags)
	res, err := diffPaths(t, orig, patched, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, g := writeOutput(t, res)
	var krelas []string
	for _, l := range kpatchfmt.Describe(g) {
		if strings.HasPrefix(l, "krela ") {
			krelas = append(krelas, l)
		}
	}
	if len(krelas) != 1 || !strings.Contains(krelas[0], "type=R_390_GOTENT") && !strings.Contains(krelas[0], fmt.Sprintf("type=%d", elf.R_390_GOTENT)) ||
		!strings.Contains(krelas[0], "sym=bar ") || !strings.HasPrefix(krelas[0], "krela .text.foo+") {
		t.Errorf("livepatch relocations %q, want one R_390_GOTENT in .text.foo to bar", krelas)
	}
	checkWellFormed(t, out)
}

// TestS390xBadPairs checks the refusals around big-endian input: an
// s390x object against a ppc64le one (different machines, different byte
// orders), and a truncated s390x object, each a clear error naming the
// files.
func TestS390xBadPairs(t *testing.T) {
	s390 := filepath.Join(archCorpusDir(t, "s390x"), "cmdline-ubsan.ORIG.o")
	ppc := filepath.Join(archCorpusDir(t, "ppc64le"), "cmdline-ubsan.ORIG.o")
	_, err := diffPaths(t, s390, ppc, nil, nil, nil)
	if code := elfdiff.ExitCode(err); code != elfdiff.ExitError || err == nil ||
		!strings.Contains(err.Error(), "different machines") || !strings.Contains(err.Error(), "EM_S390") || !strings.Contains(err.Error(), "EM_PPC64") {
		t.Errorf("s390x against ppc64le: exit %d, %v", code, err)
	}
	b, err := os.ReadFile(s390)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.o")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := elfobj.Open(cut); err == nil || !strings.Contains(err.Error(), cut) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated s390x object: %v", err)
	}
}

// TestS390xStackProtectorLoc checks the __stack_protector_loc special
// section (gcc -mstack-protector-guard-record: one pointer to each load of
// the stack guard, which the kernel patches at load time) on cross-built
// objects, its entries written here by inline assembly: the output keeps
// the entry of the changed function and drops the unchanged one's.
func TestS390xStackProtectorLoc(t *testing.T) {
	src := `extern int g(int);
#define GUARD_LOAD asm volatile("0: nopr\n.pushsection __stack_protector_loc,\"a\"\n.quad 0b\n.popsection")
int foo(int x) { GUARD_LOAD; return g(x) + %d; }
int bar(int x) { GUARD_LOAD; return g(x + 7); }
`
	flags := s390xEntries["nop"]
	orig := buildS390x(t, "orig", fmt.Sprintf(src, 1), flags)
	patched := buildS390x(t, "patched", fmt.Sprintf(src, 2), flags)
	res, err := diffPaths(t, orig, patched, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, g := writeOutput(t, res)
	rs := g.SectionByName(".rela__stack_protector_loc")
	if rs == nil || len(rs.Relocs) != 1 || g.SectionByName("__stack_protector_loc").Size != 8 {
		t.Fatalf("__stack_protector_loc: %v, want one entry", rs)
	}
	r := rs.Relocs[0]
	if elf.R_390(r.Type) != elf.R_390_64 || r.Sym.Name != "foo" && r.Sym.Name != ".text.foo" {
		t.Errorf("__stack_protector_loc entry %v %s%+d, want R_390_64 into foo", elf.R_390(r.Type), r.Sym.Name, r.Addend)
	}
	checkWellFormed(t, out)
}
