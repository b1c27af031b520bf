package pipeline_test

// The patch catalogue: source patches for the bundled kernel in the
// spirit of kpatch's integration tests, each with what kpatch-build must
// make of it. testdata/patches/NAME.patch is the patch (a unified diff
// against emulator/kernel), NAME.expect says what must happen:
//
//	desc <one line>
//	outcome build|refuse|nochange
//	stack <NAME>                 build with NAME.patch first (repeatable, in order)
//	nonreplace                   build with -R (no atomic replace)
//	changed <object> <function>  a changed function of the report
//	new <object> <function>      a new function of the report
//	refuse <substring>           of the error message (refuse, nochange)
//	hint <substring>             of the refusal's hint
//	check syscall <nr> <text>    text the system call returns once patched
//	check call|step|proc|func|sleep ...
//	                             a check of the check language
//	                             (livepatch.ParseCheck), e.g.
//	                             check call 8 u32=41 => returned 43
//	check module <name>          the patch changes loadable module NAME
//	why-not-reached <func> <why> no check runs FUNC's new body, because WHY
//	features <name>...           CPU features of the emulated CPU (popcnt)
//	knownbug <text>              the entry states what should happen but
//	                             kpatch-build does not do it yet: skipped
//
// For a build the changed and new functions are exactly those listed; for
// a refusal those listed must be reported. NAME.golden holds the module
// listing (report, .kpatch.funcs, klp relocations, functions, .modinfo)
// or the refusal's text; refresh with go test ./pipeline/ -update.

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// expectation is a NAME.expect read for the emulated target (package
// expect), with its changed and new functions as "changed OBJ FUNC" and
// "new OBJ FUNC".
type expectation struct {
	*expect.File
	Changes []string
}

// parseExpect reads a catalogue entry and checks what the catalogue
// needs of it: a desc and an outcome, the functions of a build, the
// refusal's text of a refusal.
func parseExpect(path string) (*expectation, error) {
	f, err := expect.Read(path, expect.Emulated)
	if err != nil {
		return nil, err
	}
	e := &expectation{File: f}
	for _, c := range f.Changed {
		e.Changes = append(e.Changes, "changed "+c)
	}
	for _, c := range f.New {
		e.Changes = append(e.Changes, "new "+c)
	}
	if e.Desc == "" || e.Outcome == "" {
		return nil, fmt.Errorf("%s: desc and outcome are required", path)
	}
	if e.Outcome == "build" && len(e.Changes) == 0 {
		return nil, fmt.Errorf("%s: a build outcome must list its changed or new functions", path)
	}
	if e.Outcome != "build" && len(e.Refuse) == 0 {
		return nil, fmt.Errorf("%s: a %s outcome needs a refuse line", path, e.Outcome)
	}
	return e, nil
}

// treeHashes hashes every source (non build output) file of a tree.
func treeHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	h := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if worktree.IsBuildOutput(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h[rel] = sha256.Sum256([]byte("symlink " + l))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func diffHashes(before, after map[string][32]byte) []string {
	var out []string
	for p, h := range before {
		if a, ok := after[p]; !ok {
			out = append(out, "removed "+p)
		} else if a != h {
			out = append(out, "modified "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, "added "+p)
		}
	}
	sort.Strings(out)
	return out
}

// normalizer makes golden text independent of temporary and checkout
// paths and of addresses in the running kernel's layout.
type normalizer struct{ repl []string }

var (
	workRE    = regexp.MustCompile(`work-[0-9]+`)
	oldAddrRE = regexp.MustCompile(`old_addr=0x[0-9a-f]+`)
)

func (n *normalizer) apply(s string) string {
	s = strings.NewReplacer(n.repl...).Replace(s)
	s = workRE.ReplaceAllString(s, "work-N")
	return oldAddrRE.ReplaceAllString(s, "old_addr=ADDR")
}

func reportChanges(rep *pipeline.Report) (set map[string]bool, text string) {
	set = map[string]bool{}
	if rep == nil {
		return set, ""
	}
	objs := append([]*elfdiff.Report(nil), rep.Objects...)
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Object < objs[j].Object })
	var b strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&b, "  %s: exit %d\n", o.Object, o.Exit)
		for _, c := range o.Changes {
			set[c.Kind+" "+o.Object+" "+c.Function] = true
			fmt.Fprintf(&b, "    %s %s\n", c.Kind, c.Function)
		}
		for _, w := range o.Warnings {
			fmt.Fprintf(&b, "    warning: %s\n", w)
		}
		if o.Refusal != nil {
			fmt.Fprintf(&b, "    refused: %s\n", o.Refusal.Message)
		}
	}
	return set, b.String()
}

// moduleListing describes a built patch module for the golden file.
func moduleListing(t *testing.T, path string) string {
	t.Helper()
	f, err := elfobj.Open(path)
	if err != nil {
		t.Fatalf("open module: %v", err)
	}
	if f.Type != elf.ET_REL {
		t.Errorf("%s: type %v, want ET_REL", path, f.Type)
	}
	l := module.Inspect(f)
	if len(l.Problems) > 0 {
		t.Errorf("%s is malformed: %s", filepath.Base(path), strings.Join(l.Problems, "; "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module %s:\n", filepath.Base(path))
	b.WriteString(l.String())
	// The klp relocation sections, by name, with their symbols.
	b.WriteString("klp relocation sections:\n")
	n := 0
	for _, s := range f.Sections {
		if s.Flags&elfobj.SHFRelaLivepatch == 0 {
			continue
		}
		n++
		seen := map[string]bool{}
		var syms []string
		for _, r := range s.Relocs {
			if r.Sym != nil && !seen[r.Sym.Name] {
				seen[r.Sym.Name] = true
				syms = append(syms, r.Sym.Name)
			}
		}
		fmt.Fprintf(&b, "  %s (%d): %s\n", s.Name, len(s.Relocs), strings.Join(syms, " "))
	}
	if n == 0 {
		b.WriteString("  (none)\n")
	}
	// The sections, with the sizes of the tables (special sections,
	// kpatch tables: entry counts that are the same for any compiler).
	b.WriteString("sections:\n")
	for _, s := range f.Sections {
		switch {
		case s.Type == elf.SHT_SYMTAB || s.Type == elf.SHT_STRTAB:
			continue
		case strings.HasPrefix(s.Name, "__") || strings.HasPrefix(s.Name, ".kpatch.") ||
			s.Name == ".smp_locks" || s.Name == ".altinstructions":
			fmt.Fprintf(&b, "  %s %d\n", s.Name, s.Size)
		default:
			fmt.Fprintf(&b, "  %s\n", s.Name)
		}
	}
	// The functions the module defines (the patched ones, their .cold
	// parts, new functions and the patch hook).
	b.WriteString("functions:\n")
	var funcs []string
	for _, s := range f.Symbols {
		if s.Type == elf.STT_FUNC && s.Section != nil {
			bind := "local"
			if s.Bind != elf.STB_LOCAL {
				bind = "global"
			}
			funcs = append(funcs, fmt.Sprintf("  %s %s [%s]\n", s.Name, bind, s.Section.Name))
		}
	}
	sort.Strings(funcs)
	b.WriteString(strings.Join(funcs, ""))
	return b.String()
}

func TestCatalogue(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "make")
	testutil.NeedTool(t, "ld")
	// Compiler messages in the C locale (ASCII quotes) for the goldens.
	t.Setenv("LC_ALL", "C")
	root, err := filepath.Abs(testutil.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "emulator", "kernel")
	dir := filepath.Join(root, "testdata", "patches")
	expects, err := filepath.Glob(filepath.Join(dir, "*.expect"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(expects)
	if len(expects) < 22 {
		t.Fatalf("%d catalogue entries, want at least 22", len(expects))
	}
	// One cache for the whole catalogue: the running kernel and the
	// original build are built once. KPATCH_CATALOGUE_CACHE keeps it
	// between runs.
	cache := os.Getenv("KPATCH_CATALOGUE_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	norm := &normalizer{repl: []string{cache, "$CACHE", root, "$REPO"}}
	before := treeHashes(t, src)
	start := time.Now()

	for _, ep := range expects {
		name := strings.TrimSuffix(filepath.Base(ep), ".expect")
		t.Run(name, func(t *testing.T) {
			e, err := parseExpect(ep)
			if err != nil {
				t.Fatal(err)
			}
			var patches []string
			for _, s := range append(append([]string(nil), e.Stack...), name) {
				p := filepath.Join(dir, s+".patch")
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("patch: %v", err)
				}
				patches = append(patches, p)
			}
			for _, c := range e.Target {
				if m, ok := strings.CutPrefix(c, "module "); ok {
					if _, err := os.Stat(filepath.Join(src, "modules", m)); err != nil {
						t.Errorf("check module %s: no such module in the tree", m)
					}
				}
			}
			if e.KnownBug != "" {
				t.Skip("known bug: " + e.KnownBug)
			}
			out := t.TempDir()
			t0 := time.Now()
			res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Patches: patches, Fuzz: patch.DefaultFuzz,
				OutputDir: out, CacheDir: cache, Jobs: 2, NonReplace: e.NonReplace, SkipCompilerCheck: false})
			t.Logf("%s: %v", name, time.Since(t0).Round(10*time.Millisecond))

			if diff := diffHashes(before, treeHashes(t, src)); len(diff) > 0 {
				t.Errorf("the source tree changed:\n%s", strings.Join(diff, "\n"))
			}
			var rep *pipeline.Report
			if res != nil {
				rep = res.Report
			}
			got, changesText := reportChanges(rep)
			var golden strings.Builder
			fmt.Fprintf(&golden, "# %s: %s\n", name, e.Desc)
			fmt.Fprintf(&golden, "outcome: %s\n", e.Outcome)
			if changesText != "" {
				golden.WriteString("report:\n" + changesText)
			}
			if res != nil && len(res.NewObjects) > 0 {
				golden.WriteString("new objects:\n" + indent(strings.Join(res.NewObjects, "\n")))
			}

			switch e.Outcome {
			case "build":
				if err != nil {
					t.Fatalf("want a module, got error: %v%s", err, hintOf(err))
				}
				if _, err := os.Stat(res.Module); err != nil {
					t.Fatalf("module: %v", err)
				}
				want := map[string]bool{}
				for _, c := range e.Changes {
					want[c] = true
				}
				for c := range want {
					if !got[c] {
						t.Errorf("report lacks %q", c)
					}
				}
				for c := range got {
					if !want[c] {
						t.Errorf("report has unexpected %q", c)
					}
				}
				golden.WriteString(moduleListing(t, res.Module))
				golden.WriteString(verifyInTarget(t, res, e, filepath.Join(dir, name+".console.golden")))
			default:
				if err == nil {
					t.Fatalf("want a refusal, got module %s", res.Module)
				}
				if res != nil && res.Module != "" {
					t.Errorf("refused, yet a module was written: %s", res.Module)
				}
				if entries, _ := os.ReadDir(out); len(entries) > 0 {
					t.Errorf("refused, yet the output directory holds %s", entries[0].Name())
				}
				var pe *pipeline.Error
				isPE := errors.As(err, &pe)
				if e.Outcome == "nochange" {
					if !isPE {
						t.Errorf("no change should be a *pipeline.Error, got %T", err)
					}
					if rep == nil || len(rep.Objects) == 0 {
						t.Errorf("no change: no object was diffed")
					} else {
						for _, o := range rep.Objects {
							if o.Exit != elfdiff.ExitNoChange {
								t.Errorf("no change: %s exit %d, want %d", o.Object, o.Exit, elfdiff.ExitNoChange)
							}
						}
					}
				}
				msg := err.Error()
				for _, s := range e.Refuse {
					if !strings.Contains(msg, s) {
						t.Errorf("error lacks %q:\n%s", s, msg)
					}
				}
				hints := hintOf(err)
				for _, s := range e.Hint {
					if !strings.Contains(hints, s) {
						t.Errorf("hint lacks %q; hints: %q", s, hints)
					}
				}
				for _, c := range e.Changes {
					if !got[c] {
						t.Errorf("report lacks %q", c)
					}
				}
				golden.WriteString("error:\n" + indent(msg))
				if isPE && pe.Hint != "" {
					golden.WriteString("hint:\n" + indent(pe.Hint))
				}
			}
			testutil.Golden(t, filepath.Join(dir, name+".golden"), norm.apply(golden.String()))
		})
	}
	t.Logf("catalogue: %d entries in %v", len(expects), time.Since(start).Round(100*time.Millisecond))
}

// verifyInTarget proves a built module in the emulated target: boot the
// running kernel, load the modules the patch changes, load the patch, wait
// for the transition, check that calls land in the new functions and that
// every "check syscall" text appears with the patch and neither before nor
// after it; disable, unload, check the old behaviour is back. It returns
// the verification summary for the golden file and keeps the console in
// NAME.console.golden.
func verifyInTarget(t *testing.T, res *pipeline.Result, e *expectation, consoleGolden string) string {
	t.Helper()
	var mods []string
	var specs []string
	for _, c := range e.Target {
		if m, ok := strings.CutPrefix(c, "module "); ok {
			mods = append(mods, filepath.Join(res.Running, "modules", m, m+".ko"))
			specs = append(specs, "proc "+m)
		} else {
			specs = append(specs, c)
		}
	}
	checks, own, err := livepatch.AddChecks(livepatch.DefaultChecks, specs)
	if err != nil {
		t.Fatal(err)
	}
	var cpuid cpu.CPUIDFunc
	for _, f := range e.Features {
		bit, ok := cpuFeatures[f]
		if !ok {
			t.Fatalf("features: unknown CPU feature %q", f)
		}
		cpuid = boot.WithFeatures(bit)
	}
	rep, err := livepatch.VerifyModule(res.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(res.Running, "vmlinux"),
		Modules: mods, Checks: checks, CPUID: cpuid, NotReached: e.NotReached})
	if err != nil {
		console := ""
		if rep != nil {
			console = rep.Console
		}
		t.Fatalf("verify in the target: %v\n%s", err, console)
	}
	for _, c := range own {
		if !strings.Contains(rep.Patched[c.Name], c.Want) {
			t.Errorf("with the patch, %s lacks %q:\n%s", c.Name, c.Want, rep.Patched[c.Name])
		}
		if strings.Contains(rep.Before[c.Name], c.Want) || strings.Contains(rep.After[c.Name], c.Want) {
			t.Errorf("without the patch, %s already has %q", c.Name, c.Want)
		}
	}
	if len(own) > 0 && len(rep.Changed) == 0 {
		t.Errorf("the patch's checks saw no change")
	}
	// Every new function's body must run during the checks, or the entry
	// must say why no check can run it (why-not-reached).
	for _, u := range rep.Unexplained() {
		t.Errorf("%s (add a check that runs it, or a why-not-reached line)", u)
	}
	for fn := range e.NotReached {
		found := false
		for _, r := range rep.Ran {
			found = found || r.Func == fn
		}
		if !found {
			t.Errorf("why-not-reached %s: the patch does not patch %s", fn, fn)
		}
	}
	testutil.Golden(t, consoleGolden, rep.Console)
	out := "verify:\n" + indent(rep.Summary())
	if len(mods) > 0 {
		// The other order: the patch first, the modules after it (late
		// module patching); each module's text must be the patched one.
		late, err := livepatch.VerifyLateModules(res.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(res.Running, "vmlinux"),
			Modules: mods, Checks: checks, CPUID: cpuid})
		if err != nil {
			console := ""
			if late != nil {
				console = late.Console
			}
			t.Fatalf("%v\n%s", err, console)
		}
		for _, ch := range checks {
			if ch.Proc == "" {
				continue
			}
			if maskNumbers(late.Patched[ch.Name]) != maskNumbers(rep.Patched[ch.Name]) {
				t.Errorf("%s with the module loaded after the patch:\n%s\nwith it loaded before:\n%s", ch.Name, late.Patched[ch.Name], rep.Patched[ch.Name])
			}
		}
		out += "verify with the modules loaded after the patch:\n"
		for _, f := range late.Funcs {
			out += "    patched " + f + "\n"
		}
	}
	return out
}

var numbers = regexp.MustCompile(`[0-9]+`)

// maskNumbers hides counters, which differ between two boots that read a
// text a different number of times.
func maskNumbers(s string) string { return numbers.ReplaceAllString(s, "N") }

// cpuFeatures are the CPU features a catalogue entry may ask for.
var cpuFeatures = map[string]int{"popcnt": boot.FeaturePOPCNT}

// hintOf collects the hints of an error: a *pipeline.Error's Hint and the
// "hint:" lines the diff engine's refusals carry in the message.
func hintOf(err error) string {
	var hints []string
	var pe *pipeline.Error
	if errors.As(err, &pe) && pe.Hint != "" {
		hints = append(hints, pe.Hint)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if _, h, ok := strings.Cut(line, "hint: "); ok {
			hints = append(hints, h)
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return "\nhint: " + strings.Join(hints, "\nhint: ")
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}
