package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// realExpect is what a real-kernel catalogue patch must do
// (testdata/realpatches/NAME.expect; the guest checks are read by the
// command itself).
type realExpect struct {
	outcome      string
	changed, new []string // "OBJ FUNC"
	refuse, hint []string
}

func readRealExpect(t *testing.T, path string) *realExpect {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := &realExpect{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		rest = strings.TrimSpace(rest)
		switch key {
		case "outcome":
			e.outcome = rest
		case "changed":
			e.changed = append(e.changed, strings.Join(strings.Fields(rest), " "))
		case "new":
			e.new = append(e.new, strings.Join(strings.Fields(rest), " "))
		case "refuse":
			e.refuse = append(e.refuse, rest)
		case "hint":
			e.hint = append(e.hint, rest)
		}
	}
	if e.outcome != "build" && e.outcome != "refuse" {
		t.Fatalf("%s: outcome %q", path, e.outcome)
	}
	return e
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
	if testing.Short() {
		t.Skip("the real-kernel catalogue builds and boots: skipped with -short")
	}
	src := testutil.LinuxSource(t)
	k := testutil.DebianKernel(t)
	testutil.NeedTool(t, "qemu-system-x86_64")
	readelf := testutil.NeedTool(t, "readelf")
	before := testutil.TreeDigest(t, src)
	bin := filepath.Join(t.TempDir(), "kpatch-build")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cache := testutil.CacheDir(t)
	dir := filepath.Join(testutil.RepoRoot(), "testdata", "realpatches")
	patches, _ := filepath.Glob(filepath.Join(dir, "*.patch"))
	if len(patches) < 22 {
		t.Fatalf("%d catalogue patches in %s, want at least 22", len(patches), dir)
	}
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
			switch exp.outcome {
			case "build":
				if err != nil {
					t.Fatalf("exit %d, want 0:\n%s%s", code, stderr.String(), stdout.String())
				}
			case "refuse":
				if code != 1 {
					t.Fatalf("exit %d, want 1:\n%s", code, stderr.String())
				}
				msg := strings.ReplaceAll(stderr.String(), cache, "CACHE")
				for _, w := range append(exp.refuse, exp.hint...) {
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
			sort.Strings(exp.changed)
			sort.Strings(exp.new)
			if d := cmp.Diff(exp.changed, changed); d != "" && exp.outcome == "build" {
				t.Errorf("changed functions (-expect +report):\n%s", d)
			}
			if d := cmp.Diff(exp.new, added); d != "" && exp.outcome == "build" {
				t.Errorf("new functions (-expect +report):\n%s", d)
			}
			if exp.outcome == "build" {
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
				if !strings.HasSuffix(stdout.String(), "VERIFIED\n") {
					t.Errorf("not verified:\n%s", stdout.String())
				}
				golden.WriteString(stdout.String())
			}
			testutil.Golden(t, strings.TrimSuffix(patch, ".patch")+".golden", testutil.NormalizeKernel(golden.String(), k.Release))
		})
	}
	if after := testutil.TreeDigest(t, src); after != before {
		t.Errorf("the source tree %s changed", src)
	}
}
