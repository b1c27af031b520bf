package elfdiff_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// ppcBase is a translation unit in the shape of ppc64le kernel code: data
// reached through .toc (-mcmodel=large, as kpatch-build compiles on
// ppc64le), -mprofile-kernel entries, local entry points.
const ppcBase = `extern int _printk(const char *fmt, ...);
static int counter;
static int other;
int shared_val;
static int __attribute__((noinline)) helper(int x) { return x * 3 + counter; }
int use_counter(int x) { counter += x; return counter; }
int use_other(int x) { other += x; _printk("other %d\n", __LINE__); return other; }
int tail(int x) { return helper(x + 1); }
int (*get_fp(void))(int) { return use_counter; }
void warn_here(void) { _printk("here %d\n", __LINE__); }
`

// ppcFixupBase has two functions with a CPU-feature alternative each, in
// the layout of the kernel's feature sections: a 48-byte __ftr_fixup entry
// (mask, value, then the default and alternative code ranges as offsets
// from the entry) and the alternative code in __ftr_alt_97.
const ppcFixupBase = `int g1, g2;
#define FTR(x) asm volatile("97: nop\n98:\n" \
	".pushsection __ftr_alt_97,\"a\"\n99: ori 0,0,0\n100:\n.popsection\n" \
	".pushsection __ftr_fixup,\"a\"\n.align 3\n101: .8byte 0x1, " #x "\n" \
	".8byte 97b-101b, 98b-101b, 99b-101b, 100b-101b\n.popsection\n")
int fa(int x) { FTR(1); return x + g1; }
int fb(int x) { FTR(2); return x * g2; }
`

// The code models of the cases: data through .toc (what kpatch-build
// compiles with on ppc64le), and Power10 PC-relative code (prefixed
// instructions, no TOC, no local entry).
var (
	ppcTOC   = []string{"-mcmodel=large"}
	ppcPCRel = []string{"-mcpu=power10", "-mcmodel=medium", "-mpcrel"}
)

// ppcCompile builds src with the ppc64le cross compiler, kernel-like flags
// and the code model's.
func ppcCompile(t *testing.T, dir, name, src string, model []string) string {
	t.Helper()
	gcc := testutil.NeedTool(t, "powerpc64le-linux-gnu-gcc-12")
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	o := filepath.Join(dir, name+".o")
	args := append([]string{"-O2", "-ffunction-sections", "-fdata-sections", "-pg", "-mprofile-kernel",
		"-fno-asynchronous-unwind-tables", "-c", c, "-o", o}, model...)
	cmd := exec.Command(gcc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	return o
}

// TestPPC64LEObjects diffs real ppc64le objects, each pair showing one rule
// of the architecture.
func TestPPC64LEObjects(t *testing.T) {
	env := map[string]string{"BUG_STRUCT_SIZE": "24", "EX_STRUCT_SIZE": "8", "FIXUP_STRUCT_SIZE": "48", "JUMP_STRUCT_SIZE": "24"}
	for _, tc := range []struct {
		name, patched string
		base          string // ppcBase when empty
		model         []string
		exit          int
		key           refusal.Key
		changes       []string
		krelas        []string // krela records must contain each of these
		check         func(t *testing.T, out *elfobj.File)
	}{
		// An object diffed against itself has no change.
		{name: "self", patched: ppcBase, model: ppcTOC, exit: elfdiff.ExitNoChange},
		{name: "self-pcrel", patched: ppcBase, model: ppcPCRel, exit: elfdiff.ExitNoChange},
		// A new .toc entry shifts the others: only the function whose
		// loads changed is changed, and its data stays the running
		// kernel's (livepatch relocations on the .toc entries).
		{name: "toc-shift",
			patched: strings.Replace(ppcBase, "counter += x; return counter;", "counter += x + shared_val; return counter;", 1),
			model:   ppcTOC, exit: elfdiff.ExitOK, changes: []string{"changed use_counter"},
			krelas: []string{"krela .toc+", "sym=counter symobj=vmlinux pos=1 bind=0 type=1", "sym=shared_val symobj=vmlinux pos=0 bind=1 type=1"}},
		// PC-relative code reaches the data from the function itself.
		{name: "data-pcrel",
			patched: strings.Replace(ppcBase, "counter += x; return counter;", "counter += x + shared_val; return counter;", 1),
			model:   ppcPCRel, exit: elfdiff.ExitOK, changes: []string{"changed use_counter"},
			krelas: []string{"krela .text.use_counter+", "sym=counter symobj=vmlinux pos=1 bind=0 type=1", "sym=shared_val symobj=vmlinux pos=0 bind=1 type=1"}},
		// Only __LINE__ moved: the li r4 that passes it is not a change.
		{name: "line-only", patched: strings.Replace(ppcBase, "int use_other", "\nint use_other", 1), model: ppcTOC, exit: elfdiff.ExitNoChange},
		{name: "line-only-pcrel", patched: strings.Replace(ppcBase, "void warn_here", "\nvoid warn_here", 1), model: ppcPCRel, exit: elfdiff.ExitNoChange},
		// A kept feature-fixup entry brings the alternative code it
		// points at; the other function's entry is dropped.
		{name: "feature-fixup", base: ppcFixupBase, patched: strings.Replace(ppcFixupBase, "x + g1", "x - g1", 1),
			model: ppcTOC, exit: elfdiff.ExitOK, changes: []string{"changed fa"},
			check: func(t *testing.T, out *elfobj.File) {
				fix, alt := out.SectionByName("__ftr_fixup"), out.SectionByName("__ftr_alt_97")
				if fix == nil || alt == nil || fix.Size != 48 || fix.Rela == nil || len(fix.Rela.Relocs) != 4 {
					t.Fatalf("want one 48-byte __ftr_fixup entry with 4 relocations and __ftr_alt_97 in the output")
				}
				for _, r := range fix.Rela.Relocs {
					if r.Sym.Name != "fa" && r.Sym.Section != alt {
						t.Errorf("__ftr_fixup relocation to %s, want fa or __ftr_alt_97", r.Sym.Name)
					}
				}
			}},
		// A changed function that tail-calls is refused.
		{name: "sibling-call", patched: strings.Replace(ppcBase, "helper(x + 1)", "helper(x + 2)", 1),
			model: ppcTOC, exit: 1, key: refusal.SiblingCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := tc.base
			if base == "" {
				base = ppcBase
			}
			orig := ppcCompile(t, dir, "orig", base, tc.model)
			patched := ppcCompile(t, dir, "patched", tc.patched, tc.model)
			res, err := diffPaths(t, orig, patched, nil, nil, env)
			if got := elfdiff.ExitCode(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d", got, err, tc.exit)
			}
			if tc.key != "" {
				var e *refusal.Error
				if !errors.As(err, &e) || e.Key != tc.key {
					t.Fatalf("error %v, want refusal %s", err, tc.key)
				}
			}
			if tc.exit != elfdiff.ExitOK {
				return
			}
			var changes []string
			for _, ch := range res.Report.Changes {
				changes = append(changes, ch.Kind+" "+ch.Function)
			}
			if d := cmp.Diff(tc.changes, changes); d != "" {
				t.Errorf("changes (-want +got):\n%s", d)
			}
			out, err := res.Output.Write()
			if err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, out)
			g, err := elfobj.Read("out", out)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, g)
			}
			desc := strings.Join(kpatchfmt.Describe(g), "\n")
			for _, k := range tc.krelas {
				if !strings.Contains(desc, k) {
					t.Errorf("no %q in the records:\n%s", k, desc)
				}
			}
		})
	}
}

// TestPPC64LEBadTOC gives the engine objects whose .toc indirection is
// broken (loads beyond .toc, negative offsets, a .toc cut short with no
// relocations): each is refused as an out-of-range relocation naming the
// function's section, exit 1, no output.
func TestPPC64LEBadTOC(t *testing.T) {
	dir := t.TempDir()
	origPath := ppcCompile(t, dir, "orig", ppcBase, ppcTOC)
	patchedPath := ppcCompile(t, dir, "patched",
		strings.Replace(ppcBase, "counter += x; return counter;", "counter += x + shared_val; return counter;", 1), ppcTOC)
	env := map[string]string{"BUG_STRUCT_SIZE": "24", "EX_STRUCT_SIZE": "8", "FIXUP_STRUCT_SIZE": "48", "JUMP_STRUCT_SIZE": "24"}
	for _, m := range []struct {
		name   string
		mutate func(f *elfobj.File)
	}{
		{"loads beyond .toc", func(f *elfobj.File) { setTOCAddends(f, 1<<40) }},
		{"negative .toc offsets", func(f *elfobj.File) { setTOCAddends(f, -8) }},
		{".toc offsets that overflow", func(f *elfobj.File) { setTOCAddends(f, math.MaxInt64-3) }},
		{".toc cut short, no .rela.toc", func(f *elfobj.File) {
			for _, s := range f.Sections {
				switch s.Name {
				case ".toc":
					s.Data, s.Size = s.Data[:4], 4
				case ".rela.toc":
					s.Relocs = nil
				}
			}
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			b, err := os.ReadFile(patchedPath)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elfobj.Read(patchedPath, b)
			if err != nil {
				t.Fatal(err)
			}
			m.mutate(f)
			bad, err := f.Write()
			if err != nil {
				t.Fatal(err)
			}
			badPath := filepath.Join(dir, "bad.o")
			if err := os.WriteFile(badPath, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = diffPaths(t, origPath, badPath, nil, nil, env)
			var e *refusal.Error
			if !errors.As(err, &e) || e.Key != refusal.RelocOutOfRange || elfdiff.ExitCode(err) != 1 ||
				!strings.Contains(err.Error(), ".text.") || !strings.Contains(err.Error(), ".toc") {
				t.Fatalf("got %v, want an out-of-range relocation to .toc from a function's section", err)
			}
		})
	}
}

// setTOCAddends points every relocation against .toc outside .rela.toc at
// addend a; it panics when there is none (the test would prove nothing).
func setTOCAddends(f *elfobj.File, a int64) {
	n := 0
	for _, s := range f.Sections {
		if s.Name == ".rela.toc" {
			continue
		}
		for i, r := range s.Relocs {
			if r.Sym != nil && r.Sym.Section != nil && r.Sym.Section.Name == ".toc" {
				s.Relocs[i].Addend = a
				n++
			}
		}
	}
	if n == 0 {
		panic("no relocation against .toc")
	}
}

// FuzzDiffPPC64LE diffs a ppc64le corpus ORIG (meminfo-string: .toc loads,
// local entries, _mcount) against fuzzed bytes as PATCHED, seeded with the
// ppc64le corpus's PATCHED objects, with the checks of FuzzDiff:
// go test ./elfdiff/ -run '^$' -fuzz FuzzDiffPPC64LE -fuzztime 60s
func FuzzDiffPPC64LE(f *testing.F) {
	fuzzDiffCorpusCase(f, "ppc64le", "meminfo-string", "ppc64le")
}
