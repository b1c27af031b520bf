package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/debian"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// readRealExpect reads what a real-kernel catalogue patch must do
// (testdata/realpatches/NAME.expect, read for qemu by package expect; the
// guest checks are read by the command itself): a build or a refusal.
func readRealExpect(t *testing.T, path string) *expect.File {
	t.Helper()
	e, err := expect.Read(path, expect.Qemu)
	if err != nil {
		t.Fatal(err)
	}
	if e.Outcome != "build" && e.Outcome != "refuse" {
		t.Fatalf("%s: outcome %q", path, e.Outcome)
	}
	return e
}

// needRealVerify skips the test in -short mode or without what --verify
// on the real kernel needs (failing it under CI), and returns the
// extracted linux-source tree, the installed Debian kernel and the built
// binary.
func needRealVerify(t *testing.T) (src string, k debian.Kernel, bin string) {
	t.Helper()
	return needSeriesVerify(t, testutil.TestSeries)
}

// needSeriesVerify is needRealVerify for the newest installed kernel of
// series.
func needSeriesVerify(t *testing.T, series string) (src string, k debian.Kernel, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds kernel objects and boots the real kernel: skipped with -short")
	}
	src = testutil.SeriesSource(t, series)
	k = testutil.SeriesKernel(t, series)
	testutil.NeedTool(t, "qemu-system-x86_64")
	return src, k, buildBinary(t)
}

// verifiedByChecks is the last line of a verification by behaviour
// checks of which one at least tells the patch from no patch.
var verifiedByChecks = regexp.MustCompile(`\nVERIFIED \(load, transition, unload; [1-9][0-9]* behaviour check\(s\), [1-9][0-9]* telling the patch from no patch\)\n$`)

// checkHardening612 checks that a 6.12 module passes inspect's
// control-flow check, as an IBT and return-thunk module, and returns the
// check's text for the golden. With breakIt, it also breaks a copy on
// purpose (init_module's ENDBR64 made a NOP) and checks
// that kpatch-build inspect (bin) reports it and exits 1.
func checkHardening612(t *testing.T, bin, ko string, breakIt bool) string {
	t.Helper()
	f, err := elfobj.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	l := module.Inspect(f)
	h := l.Hardening
	if h == nil || !h.IBT || !h.Rethunk {
		t.Fatalf("%s: not checked as an IBT and return-thunk module: %+v", ko, h)
	}
	if len(l.Problems) > 0 {
		t.Errorf("%s: malformed: %q", ko, l.Problems)
	}
	if breakIt {
		// init_module: the kernel calls it through mod->init.
		fn := f.SymbolByName("init_module")
		if fn == nil || fn.Section == nil {
			t.Fatalf("%s: no init_module", ko)
		}
		b, err := os.ReadFile(ko)
		if err != nil {
			t.Fatal(err)
		}
		off := findSectionOffset(t, b, fn.Section.Name) + fn.Value
		if !bytes.Equal(b[off:off+4], []byte{0xf3, 0x0f, 0x1e, 0xfa}) {
			t.Fatalf("%s: %s does not start with ENDBR64 at file offset %#x", ko, fn.Name, off)
		}
		copy(b[off:], []byte{0x0f, 0x1f, 0x40, 0x00}) // a 4-byte NOP
		bad := filepath.Join(t.TempDir(), "broken.ko")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := fn.Name + " can be entered indirectly (module entry"
		cmd := exec.Command(bin, "inspect", bad)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), want) ||
			!strings.Contains(string(out), fn.Name+": NO ENDBR64 (module entry") {
			t.Errorf("inspect of the broken module: exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}
	return h.String()
}

// findSectionOffset returns the file offset of the named section of the
// ELF file b.
func findSectionOffset(t *testing.T, b []byte, name string) uint64 {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s := ef.Section(name)
	if s == nil {
		t.Fatalf("no section %s", name)
	}
	return s.Offset
}

// progressLine is a progress line of the command ("[ 12.3s] ...").
var progressLine = regexp.MustCompile(`^\[ *[0-9.]+s\] `)

// TestRealCatalogue builds every patch of testdata/realpatches with the
// main command against Debian 12's linux-source-6.1 (extracted and
// read-only), as a user runs it: -s, -c, -v, --verify. Patches that
// should build must build, their module must be well formed (readelf,
// DWARF) and verified under qemu with the running kernel; the others must
// be refused with their message and hint. The changed and new functions
// are those of NAME.expect; the report and the verification are golden
// (NAME.golden). The source tree is unchanged at the end.
func TestRealCatalogue(t *testing.T) {
	runRealCatalogue(t, testutil.TestSeries, "realpatches", 27)
}

// TestRealCatalogue612 is TestRealCatalogue for Debian's 6.12
// (testdata/realpatches-6.12), a kernel with IBT, call padding, call
// depth tracking and return thunks: besides what the 6.1 tier checks,
// every module must pass inspect's control-flow check (ENDBR64 at every
// indirect entry, every return a return-thunk jump in .return_sites),
// which the golden shows, and a module broken on purpose must fail it.
func TestRealCatalogue612(t *testing.T) {
	runRealCatalogue(t, testutil.Series612, "realpatches-6.12", 3)
}

// runRealCatalogue runs the catalogue of testdata/DIR (at least min
// patches) against the newest installed kernel of series.
func runRealCatalogue(t *testing.T, series, dirName string, min int) {
	src, k, bin := needSeriesVerify(t, series)
	readelf := testutil.NeedTool(t, "readelf")
	before := testutil.TreeDigest(t, src)
	cache := testutil.CacheDir(t)
	dir := filepath.Join(testutil.RepoRoot(), "testdata", dirName)
	patches, _ := filepath.Glob(filepath.Join(dir, "*.patch"))
	if len(patches) < min {
		t.Fatalf("%d catalogue patches in %s, want at least %d", len(patches), dir, min)
	}
	if only := os.Getenv("KPATCH_TEST_PATCH"); only != "" {
		patches = slices.DeleteFunc(patches, func(p string) bool { return !strings.Contains(filepath.Base(p), only) })
	}
	broken := false
	for _, patch := range patches {
		name := strings.TrimSuffix(filepath.Base(patch), ".patch")
		t.Run(name, func(t *testing.T) {
			exp := readRealExpect(t, strings.TrimSuffix(patch, ".patch")+".expect")
			out := t.TempDir()
			report := filepath.Join(out, "report.json")
			cmd := exec.Command(bin, "-s", src, "-c", k.Config,
				"-v", k.Vmlinux, "-o", out, "--report", report, "--cachedir", cache, "--verify", patch)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			var golden strings.Builder
			fmt.Fprintf(&golden, "exit %d\n", code)
			switch exp.Outcome {
			case "build":
				if err != nil {
					t.Fatalf("exit %d, want 0:\n%s%s", code, stderr.String(), stdout.String())
				}
			case "refuse":
				if code != 1 {
					t.Fatalf("exit %d, want 1:\n%s", code, stderr.String())
				}
				msg := strings.ReplaceAll(stderr.String(), cache, "CACHE")
				for _, w := range append(exp.Refuse, exp.Hint...) {
					if !strings.Contains(msg, w) {
						t.Errorf("stderr lacks %q:\n%s", w, msg)
					}
				}
				for _, l := range strings.Split(msg, "\n") {
					if l != "" && !progressLine.MatchString(l) {
						fmt.Fprintf(&golden, "stderr: %s\n", strings.ReplaceAll(l, src, "SRC"))
					}
				}
			}
			b, rerr := os.ReadFile(report)
			if rerr != nil {
				t.Fatalf("report: %v", rerr)
			}
			var rep pipeline.Report
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			// Why each object was compiled (header patches: the
			// entity the change belongs to).
			compiled := map[string]bool{}
			for _, c := range rep.Chosen {
				compiled[c.Parent+":"+c.Object] = true
				if strings.HasSuffix(c.File, ".h") {
					fmt.Fprintf(&golden, "chosen %s (%s): %s: %s: %s\n", c.Object, c.Parent, c.File, c.Entity, c.Why)
				}
			}
			if exp.Compiles > 0 && len(compiled) > exp.Compiles {
				t.Errorf("%d objects compiled, want at most %d", len(compiled), exp.Compiles)
			}
			// The hunks applied with fuzz: in the report and in the
			// progress lines; with --fuzz 0 the patch is refused, the
			// hint naming each such hunk.
			for _, f := range rep.Fuzzed {
				fmt.Fprintf(&golden, "fuzzed %s hunk #%d (%s): fuzz %d at line %d, offset %d\n", f.File, f.Hunk, f.Header, f.Fuzz, f.Line, f.Offset)
				if !strings.Contains(stderr.String(), "] "+f.String()+"\n") {
					t.Errorf("no progress line %q:\n%s", f.String(), stderr.String())
				}
			}
			if len(rep.Fuzzed) > 0 {
				strict := exec.Command(bin, "-s", src, "-c", k.Config, "-v", k.Vmlinux, "-o", t.TempDir(), "--cachedir", cache, "--fuzz", "0", patch)
				var serr bytes.Buffer
				strict.Stderr = &serr
				if err := strict.Run(); strict.ProcessState.ExitCode() != 1 {
					t.Errorf("--fuzz 0: %v, want exit 1:\n%s", err, serr.String())
				}
				f := rep.Fuzzed[0]
				want := fmt.Sprintf("hint: hunk #%d of %s applies at line %d only with %d of its context lines ignored", f.Hunk, f.File, f.Line, f.Fuzz)
				if !strings.Contains(serr.String(), "does not apply with fuzz 0 (--fuzz)") || !strings.Contains(serr.String(), want) {
					t.Errorf("--fuzz 0: want the hunk-fuzz refusal and %q:\n%s", want, serr.String())
				}
				for _, l := range strings.Split(serr.String(), "\n") {
					if l != "" && !progressLine.MatchString(l) {
						fmt.Fprintf(&golden, "--fuzz 0: %s\n", strings.ReplaceAll(l, filepath.Dir(patch), "PATCHES"))
					}
				}
			}
			var changed, added []string
			for _, o := range rep.Objects {
				obj := o.Object
				if _, after, ok := strings.Cut(obj, ":"); ok {
					obj = after
				}
				fmt.Fprintf(&golden, "object %s: exit %d\n", o.Object, o.Exit)
				for _, c := range o.Changes {
					fmt.Fprintf(&golden, "  %s %s\n", c.Kind, c.Function)
					if c.Kind == "new" {
						added = append(added, obj+" "+c.Function)
					} else {
						changed = append(changed, obj+" "+c.Function)
					}
				}
				for _, f := range o.Funcs {
					fmt.Fprintf(&golden, "  patches %s in %s, sympos %d\n", f.Name, f.Object, f.Sympos)
				}
				for _, k := range o.KLP {
					fmt.Fprintf(&golden, "  klp %s %s %s.%s,%d\n", k.Section, k.Type, k.Object, k.Symbol, k.Sympos)
				}
				if r := o.Refusal; r != nil {
					fmt.Fprintf(&golden, "  refused (%s): %s\n  hint: %s\n", r.Key, r.Message, r.Hint)
				}
			}
			sort.Strings(changed)
			sort.Strings(added)
			sort.Strings(exp.Changed)
			sort.Strings(exp.New)
			if d := cmp.Diff(exp.Changed, changed); d != "" && exp.Outcome == "build" {
				t.Errorf("changed functions (-expect +report):\n%s", d)
			}
			if d := cmp.Diff(exp.New, added); d != "" && exp.Outcome == "build" {
				t.Errorf("new functions (-expect +report):\n%s", d)
			}
			if exp.Outcome == "build" {
				ko := filepath.Join(out, "livepatch-"+name+".ko")
				dump, err := exec.Command(readelf, "-a", "--debug-dump=info,abbrev,line,str", ko).CombinedOutput()
				if err != nil {
					t.Errorf("readelf %s: %v", ko, err)
				}
				for _, l := range strings.Split(string(dump), "\n") {
					if strings.Contains(l, "Warning") || strings.Contains(l, "Error") {
						t.Errorf("readelf: %s", l)
					}
				}
				// Every catalogue patch carries checks, and one at
				// least tells the patch from no patch.
				if !verifiedByChecks.MatchString(stdout.String()) {
					t.Errorf("not verified by checks that tell the patch apart:\n%s", stdout.String())
				}
				golden.WriteString(stdout.String())
				if series == testutil.Series612 {
					golden.WriteString(checkHardening612(t, bin, ko, !broken))
					broken = true
				}
			}
			testutil.Golden(t, strings.TrimSuffix(patch, ".patch")+".golden", testutil.NormalizeKernel(golden.String(), k.Release))
		})
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree %s changed", src)
	}
}
