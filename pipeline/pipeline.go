// Package pipeline is kpatch-build's main job: from a kernel source tree
// and source patches to a live-patch module, in named stages.
//
// For a real Linux tree (runReal): realKernel reads the running kernel's
// facts from the -v vmlinux (package kerneltree: release, compiler,
// struct sizes, Module.symvers, debug modules), the tree is prepared once
// (olddefconfig, modules_prepare; cached), affectedObjects finds the
// objects the patches can change from the debug info index and the
// include lines, kerneltree builds only those (original and patched),
// diffObjects diffs them against their parents (vmlinux or a debug
// module, in parallel; package elfdiff) and the module is built by the
// tree's kbuild (module.BuildKbuild). The kernel is never built whole
// and the user's tree never written.
//
// For the bundled kernel (runBundled): the running kernel and the
// original tree are built whole (cached), the patched tree rebuilt
// (package build), then the same diff stage and module.Build.
//
// Both end with finishModule, which checks the module's undefined
// symbols against Module.symvers.
package pipeline

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/proof"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Options are kpatch-build's settings.
type Options struct {
	SourceDir         string   // -s: the kernel tree
	Config            string   // -c: the kernel configuration (copied into the work trees)
	Vmlinux           string   // -v: the running kernel's vmlinux (default: built from the tree)
	Symvers           string   // Module.symvers (default: beside vmlinux; real trees: /lib/modules/KVER/build)
	Release           string   // real trees: KVER (default: from the vmlinux)
	DebugModules      string   // real trees: the debug modules (default: /usr/lib/debug/lib/modules/KVER)
	CC                string   // the compiler (real trees: default the one named by the vmlinux's .comment; the bundled kernel: default gcc)
	Patches           []string // the source patches
	Fuzz              int      // the most context lines of a hunk ignored (GNU patch's --fuzz; the command's default is patch.DefaultFuzz), 0: exactly
	Name              string   // -n: module name (default from the patch names)
	OutputDir         string   // -o: where the module is written
	Unverified        bool     // --verify: the module is written as NAME.ko.unverified until it is verified
	CacheDir          string   // cached builds and work trees
	Jobs              int      // -j
	NonReplace        bool     // -R
	SkipCompilerCheck bool
	// SkipProof skips comparing the original objects with the running
	// kernel (real trees; dangerous: see package proof).
	SkipProof bool

	// tables are the parents' symbol tables loaded in this run.
	tables   map[string]*symtab.Table
	KeepWork bool // -d: keep the work tree
	Targets  []string
	Log      func(format string, args ...any)
	BuildLog io.Writer
	// Debug, if set, receives debug lines (real trees: why a step took
	// kbuild's make rather than the recorded commands).
	Debug func(format string, args ...any)
	// MakeOnly builds a real tree's objects and module with kbuild's
	// make only, never by its recorded commands (the slower path, for
	// comparison).
	MakeOnly bool
}

// Report is the JSON report of a whole build.
type Report struct {
	Module string `json:"module,omitempty"`
	// Fuzzed are the hunks the patches applied with fuzz.
	Fuzzed  []patch.FuzzedHunk `json:"fuzzed,omitempty"`
	Objects []*elfdiff.Report  `json:"objects"`
	// Proof is, per original object of a real tree, what the comparison
	// with the running kernel proved (package proof).
	Proof []proof.Result `json:"proof,omitempty"`
	Error string         `json:"error,omitempty"`
}

// Result is a built patch module.
type Result struct {
	Module  string // path of the .ko
	Report  *Report
	Running string // the running kernel's tree (vmlinux, modules), or the prepared tree
	Build   *kbuild.Result
	// DiffObjects are the diff outputs the module is made of (real
	// trees; they are removed with the work directory unless KeepWork).
	DiffObjects []string
	// Release is the running kernel's release and Parents the modules
	// (by name) the patch changes (real trees).
	Release string
	Parents []string
}

// Error is a refusal of the pipeline: an entry of package refusal's table
// with its hint.
type Error = refusal.Error

// failLog is where the output of a build command that fails is saved:
// CACHEDIR/logs/NAME.log, replaced by the next failure of the same module.
func (o *Options) failLog() string {
	return filepath.Join(o.CacheDir, "logs", o.Name+".log")
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// refusePatch refuses what kpatch-build refuses in a patch whatever the
// tree: changes to lib/ (linked into vmlinux as archives, not patchable
// per object) and assembly files. The paths are the patch's cleaned ones,
// so fs/../lib/x.c is lib/x.c. (What leaves the tree by its name is
// refused when the patch is read; through the tree's symlinks, and
// changes to a Linux tree's build files, by readPatches.)
func refusePatch(p *patch.Patch) error {
	for _, f := range p.Paths() {
		if strings.HasPrefix(f.Path, "lib/") {
			return &patch.Error{Patch: p.Path, Line: f.Line, Err: refusal.New(refusal.LibChange, f.Path)}
		}
		if strings.HasSuffix(f.Path, ".S") {
			return &patch.Error{Patch: p.Path, Line: f.Line, Err: refusal.New(refusal.AsmChange, f.Path)}
		}
	}
	return nil
}

// refuseBuildFiles refuses changes to a Linux tree's build files
// (BuildFile: they would run during the build), judged on the file the
// build reads: a path through a symlinked directory of the tree at dir
// (scripts/dtc/include-prefixes/dt-bindings/...) is the file it leads to
// (include/dt-bindings/...).
func refuseBuildFiles(p *patch.Patch, dir string) error {
	for _, f := range p.Paths() {
		real, err := patch.ResolveParentInTree(dir, f.Path)
		if err != nil {
			return &patch.Error{Patch: p.Path, Line: f.Line, Path: f.Path, Err: err}
		}
		if BuildFile(real) {
			return &patch.Error{Patch: p.Path, Line: f.Line, Err: refusal.New(refusal.BuildFileChange, f.Path)}
		}
	}
	return nil
}

// BuildFile reports whether a tree-relative path of a Linux tree is part
// of the build rather than of the kernel's code: a Makefile (and its
// fragments), Kbuild, Build or Kconfig file, a make fragment, a
// configuration, a linker script or anything under scripts/ (run by the
// build). A patch to one would run during the build and cannot be live
// patched: the running kernel was built without it.
func BuildFile(path string) bool {
	base := filepath.Base(path)
	switch {
	case base == "GNUmakefile", base == "Kbuild", base == "Build", base == ".config",
		strings.HasPrefix(base, "Makefile"), strings.HasPrefix(base, "Kbuild."), strings.HasPrefix(base, "Kconfig"),
		strings.HasSuffix(base, ".mk"), strings.HasSuffix(base, "defconfig"), strings.HasSuffix(base, ".config"),
		strings.HasSuffix(base, ".lds"), strings.HasSuffix(base, ".lds.S"),
		strings.HasPrefix(path, "scripts/"):
		return true
	}
	return false
}

// Run builds a patch module: for a Linux tree (a distribution kernel's
// source) along the real-kernel path, for any other tree (the bundled
// kernel) along the full-build path. Both share the stages that read the
// patches, diff the objects and check the module.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Jobs <= 0 {
		o.Jobs = 1
	}
	patches, err := o.readPatches()
	if err != nil {
		return nil, err
	}
	// Every run holds the cache's lock (shared): a run that finds the
	// cache unused removes what killed runs left, never a live run's work.
	unlock, err := cache.Lock(o.CacheDir, o.logf)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", o.CacheDir, err)
	}
	defer unlock()
	if o.Name == "" {
		o.Name = module.NameFromPatches(o.Patches)
	}
	if err := module.CheckName(o.Name); err != nil {
		return nil, fmt.Errorf("module name %q: %w", o.Name, err)
	}
	if IsLinuxTree(o.SourceDir) {
		return o.runReal(ctx, patches)
	}
	return o.runBundled(ctx, patches)
}

// readPatches parses the patches and refuses what cannot be patched: by
// the patches alone first, then, once the source tree is known to be a
// kernel tree, against it: no path through a symlink out of it, and only
// its own files changed (checkSourceFiles).
func (o *Options) readPatches() ([]*patch.Patch, error) {
	var patches []*patch.Patch
	for _, p := range o.Patches {
		bp, err := patch.Read(p)
		if err != nil {
			return nil, err
		}
		if err := refusePatch(bp); err != nil {
			return nil, err
		}
		patches = append(patches, bp)
	}
	if o.SourceDir == "" {
		return patches, nil
	}
	if err := CheckSourceDir(o.SourceDir); err != nil {
		return nil, err
	}
	linux := IsLinuxTree(o.SourceDir)
	earlier := map[string]bool{}
	for _, p := range patches {
		if err := p.CheckTree(o.SourceDir); err != nil {
			return nil, err
		}
		if linux {
			if err := refuseBuildFiles(p, o.SourceDir); err != nil {
				return nil, err
			}
		}
		if err := checkSourceFiles(p, o.SourceDir, earlier); err != nil {
			return nil, err
		}
	}
	return patches, nil
}

// runBundled is the path of the bundled kernel: the running kernel and
// the original tree are built whole (cached), the patched tree rebuilt.
func (o *Options) runBundled(ctx context.Context, patches []*patch.Patch) (*Result, error) {
	res := &Result{Report: &Report{}}
	running, err := o.runningKernel(ctx)
	if err != nil {
		return res, err
	}
	res.Running = running
	vmlinux := o.Vmlinux
	if vmlinux == "" {
		vmlinux = filepath.Join(running, "vmlinux")
	}
	if !o.SkipCompilerCheck {
		if err := checkCompiler(vmlinux, o.bundledCC()); err != nil {
			return res, err
		}
	}
	sizes, err := cachedStructSizes(running, o.SourceDir, o.bundledCC())
	if err != nil {
		return res, err
	}
	br, err := kbuild.Run(ctx, kbuild.Options{SourceDir: o.SourceDir, Config: o.Config, CacheDir: o.CacheDir, Patches: patches, Fuzz: o.Fuzz, CC: o.bundledCC(),
		Jobs: o.Jobs, Targets: o.Targets, Log: o.Log, BuildLog: o.BuildLog, FailLog: o.failLog()})
	res.Build = br
	if br != nil {
		res.Report.Fuzzed = br.Fuzzed
	}
	if br != nil && !o.KeepWork {
		defer os.RemoveAll(filepath.Dir(br.WorkDir))
	}
	if err == nil {
		err = ctx.Err() // interrupted: no diffs, no module
	}
	if err != nil {
		return res, err
	}
	if len(br.Changed)+len(br.New) == 0 {
		return res, refusal.New(refusal.NoChangedObjects)
	}
	symversPath := o.Symvers
	if symversPath == "" {
		symversPath = filepath.Join(filepath.Dir(vmlinux), "Module.symvers")
	}
	sv, err := symtab.LoadSymvers(symversPath)
	if err != nil {
		return res, err
	}
	jobs, newObjects := renamedObjects(patches, br)
	for _, obj := range br.Changed {
		jobs = append(jobs, &diffJob{obj: obj, orig: filepath.Join(br.SavedDir, obj), patched: filepath.Join(br.WorkDir, obj)})
	}
	for _, j := range jobs {
		j.parent, j.symtab = "vmlinux", vmlinux
		if m := moduleOf(j.obj); m != "" {
			j.parent = module.ModName(m)
			j.symtab = filepath.Join(running, "modules", m, m+".ko")
		}
	}
	diffDir := filepath.Join(filepath.Dir(br.WorkDir), "diff")
	objs, err := o.diffObjects(jobs, sv, sizes, diffDir, res.Report)
	if err != nil {
		return res, err
	}
	if len(objs) == 0 && len(newObjects) == 0 {
		return res, refusal.New(refusal.NoFunctionalChange)
	}
	var newObjs []string
	for _, n := range newObjects {
		newObjs = append(newObjs, filepath.Join(br.WorkDir, n))
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	flags, err := treeCFlags(o.SourceDir)
	if err != nil {
		return res, err
	}
	release, _ := exec.CommandContext(ctx, "make", "-s", "-C", o.SourceDir, "kernelrelease").Output()
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return res, err
	}
	ko := o.modulePath()
	script := filepath.Join(o.SourceDir, "scripts", "module.lds")
	if _, err := os.Stat(script); err != nil {
		script = ""
	}
	o.logf("building patch module %s", filepath.Base(ko))
	err = module.Build(module.Options{Name: o.Name, Objects: objs, NewObjects: newObjs, TreeDir: o.SourceDir,
		CFlags: strings.Fields(string(flags)), ModuleScript: script, Release: strings.TrimSpace(string(release)),
		NonReplace: o.NonReplace, WorkDir: filepath.Join(filepath.Dir(br.WorkDir), "module"), Output: ko})
	if err != nil {
		return res, err
	}
	return res, finishModule(res, ko, sv)
}

// renamedObjects pairs the objects of files the patches rename (git
// renames with changes) with their originals: the object of the new name
// is diffed against the original build's object of the old name, as one
// changed object. It returns those diff jobs and the objects that are
// really new.
func renamedObjects(patches []*patch.Patch, br *kbuild.Result) ([]*diffJob, []string) {
	objOf := func(src string) string { return strings.TrimSuffix(src, filepath.Ext(src)) + ".o" }
	from := map[string]string{} // new object -> old object
	for _, p := range patches {
		for old, nw := range p.Renames() {
			if strings.HasSuffix(old, ".c") && strings.HasSuffix(nw, ".c") {
				from[objOf(nw)] = objOf(old)
			}
		}
	}
	var jobs []*diffJob
	var fresh []string
	for _, n := range br.New {
		old, ok := from[n]
		orig := filepath.Join(br.OrigDir, old)
		if _, err := os.Stat(orig); !ok || err != nil {
			fresh = append(fresh, n)
			continue
		}
		jobs = append(jobs, &diffJob{obj: n, orig: orig, patched: filepath.Join(br.WorkDir, n)})
	}
	return jobs, fresh
}

// diffJob is one object to diff against its parent.
type diffJob struct {
	obj           string // tree-relative object
	parent        string // vmlinux or the module's name
	symtab        string // the parent's binary with symbols
	orig, patched string // the two builds of the object
	out           string
	report        *elfdiff.Report
	err           error
	code          int
}

// diffObjects diffs each object against its parent's symbols, in
// parallel, writing the outputs into dir; it returns the outputs of the
// objects that changed.
// loadTables loads the parents' symbol tables of the jobs, each once in
// a run (the proof and the diff share them).
func (o *Options) loadTables(jobs []*diffJob) (map[string]*symtab.Table, error) {
	if o.tables == nil {
		o.tables = map[string]*symtab.Table{}
	}
	tables := o.tables
	for _, j := range jobs {
		if tables[j.symtab] == nil {
			t, err := symtab.Load(j.symtab)
			if err != nil {
				return nil, fmt.Errorf("symbols of %s: %w", j.parent, err)
			}
			tables[j.symtab] = t
		}
	}
	return tables, nil
}

func (o *Options) diffObjects(jobs []*diffJob, sv *symtab.Symvers, sizes map[string]string, dir string, report *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		j.out = filepath.Join(dir, strings.ReplaceAll(j.obj, "/", "__"))
	}
	tables, err := o.loadTables(jobs)
	if err != nil {
		return nil, err
	}
	o.logf("diffing %d object(s)", len(jobs))
	sem := make(chan struct{}, o.Jobs)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func(j *diffJob) {
			defer wg.Done()
			defer func() { <-sem }()
			orig, err := elfobj.Open(j.orig)
			if err != nil {
				j.err, j.code = err, 1
				return
			}
			patched, err := elfobj.Open(j.patched)
			if err != nil {
				j.err, j.code = err, 1
				return
			}
			orig.Name, patched.Name = "orig/"+j.obj, "patched/"+j.obj
			d, err := elfdiff.Diff(orig, patched, elfdiff.Options{Parent: j.parent, Table: tables[j.symtab], Symvers: sv,
				Getenv: func(k string) (string, bool) {
					if v, ok := os.LookupEnv(k); ok {
						return v, true
					}
					v, ok := sizes[k]
					return v, ok
				},
				Logf: func(f string, a ...any) { o.logf("%s: %s", j.obj, fmt.Sprintf(f, a...)) }})
			j.code = elfdiff.ExitCode(err)
			if d != nil {
				j.report = d.Report
			}
			if err != nil {
				j.err = err
				return
			}
			j.err = d.Output.WriteFile(j.out)
		}(j)
	}
	wg.Wait()
	var objs []string
	var errs []string
	var causes []error
	for _, j := range jobs {
		if j.report != nil {
			report.Objects = append(report.Objects, j.report)
		}
		switch {
		case j.code == elfdiff.ExitNoChange:
			o.logf("%s: no functional change", j.obj)
		case j.err != nil:
			msg := j.err.Error()
			var e *elfdiff.Error
			if errors.As(j.err, &e) && e.Hint != "" {
				msg += "\n  hint: " + e.Hint
			}
			errs = append(errs, msg)
			causes = append(causes, j.err)
		default:
			objs = append(objs, j.out)
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		e := refusal.New(refusal.ObjectErrors, len(errs), strings.Join(errs, "\n"))
		e.Err = errors.Join(causes...)
		return nil, e
	}
	return objs, nil
}

// finishModule checks the linked module: every symbol it leaves to the
// module loader must be exported (the loader resolves nothing else).
func finishModule(res *Result, ko string, sv *symtab.Symvers) error {
	f, err := elfobj.Open(ko)
	if err != nil {
		return err
	}
	l := module.Inspect(f)
	if h := l.Hardening; h != nil && len(h.Problems) > 0 {
		os.Remove(ko)
		return refusal.New(refusal.Hardening, filepath.Base(ko), strings.Join(h.Problems, "; "))
	}
	var missing []string
	for _, name := range l.Undefined {
		if !sv.IsExported(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		os.Remove(ko)
		return refusal.New(refusal.UndefinedSymbols, strings.TrimSuffix(filepath.Base(ko), UnverifiedSuffix), strings.Join(missing, " "))
	}
	res.Module = ko
	res.Report.Module = ko
	return nil
}

// UnverifiedSuffix ends the name of a module written with
// Options.Unverified: NAME.ko.unverified, never loaded by mistake for a
// verified NAME.ko.
const UnverifiedSuffix = ".unverified"

// modulePath is where the module is written: OutputDir/NAME.ko, with
// UnverifiedSuffix when Unverified.
func (o *Options) modulePath() string {
	ko := filepath.Join(o.OutputDir, o.Name+".ko")
	if o.Unverified {
		ko += UnverifiedSuffix
	}
	return ko
}

// moduleOf returns the module an object belongs to in the bundled
// kernel's layout (modules/NAME/...), or "" for vmlinux.
func moduleOf(obj string) string {
	parts := strings.Split(filepath.ToSlash(obj), "/")
	if len(parts) >= 3 && parts[0] == "modules" {
		return parts[1]
	}
	return ""
}

// bundledCC is the compiler of the bundled kernel's builds: the
// configured one, gcc when none is.
func (o *Options) bundledCC() string {
	if o.CC != "" {
		return o.CC
	}
	return "gcc"
}

// runningKernel returns a tree holding the running kernel's build: the
// tree built as it is, without kpatch-build's flags (its layout differs
// from the function-section build that is diffed). It is cached.
func (o *Options) runningKernel(ctx context.Context) (string, error) {
	key, err := kbuild.CacheKey(&kbuild.Options{SourceDir: o.SourceDir, CC: o.bundledCC(), Targets: []string{"running"}})
	if err != nil {
		return "", err
	}
	dir, _, err := cache.Cached(o.CacheDir, "running-"+key, func(tmp string) error {
		o.logf("building the running kernel")
		if err := worktree.CopyTree(o.SourceDir, tmp); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "make", "-s", "-C", tmp, fmt.Sprintf("-j%d", o.Jobs), "CC="+o.bundledCC())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("running kernel build: %w\n%s", err, out)
		}
		return nil
	})
	return dir, err
}

// treeCFlags asks the tree for the flags an out-of-tree object is compiled
// with (make print-cflags, a convention of the bundled kernel's Makefile).
func treeCFlags(tree string) ([]byte, error) {
	cmd := exec.Command("make", "-s", "-C", tree, "print-cflags")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	flags, err := cmd.Output()
	if err != nil {
		return nil, refusal.New(refusal.PrintCFlags, tree, err, strings.TrimSpace(stderr.String()))
	}
	return flags, nil
}

// compilerComment returns the GCC version string recorded in an object's
// .comment section.
func compilerComment(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := f.Section(".comment")
	if s == nil {
		return "", fmt.Errorf("%s: no .comment section", path)
	}
	b, err := s.Data()
	if err != nil {
		return "", err
	}
	for _, part := range strings.Split(string(b), "\x00") {
		if strings.HasPrefix(part, "GCC:") {
			return part, nil
		}
	}
	return "", fmt.Errorf("%s: no GCC version in .comment", path)
}

// checkCompiler compares the compiler that built vmlinux with cc.
func checkCompiler(vmlinux, cc string) error {
	want, err := compilerComment(vmlinux)
	if err != nil {
		return refusal.New(refusal.CompilerCheck, err)
	}
	dir, err := os.MkdirTemp("", "kpatch-cc-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "empty.c")
	os.WriteFile(src, []byte("int kpatch_compiler_check;\n"), 0o644)
	if out, err := exec.Command(cc, "-c", "-o", filepath.Join(dir, "empty.o"), src).CombinedOutput(); err != nil {
		return fmt.Errorf("compiler check: %s: %w\n%s", cc, err, out)
	}
	got, err := compilerComment(filepath.Join(dir, "empty.o"))
	if err != nil {
		return err
	}
	if got != want {
		return refusal.New(refusal.CompilerMismatch, want, cc, got)
	}
	return nil
}

// structProbes name the kernel structs whose sizes the diff engine needs
// and the headers that define them.
var structProbes = []struct{ env, header, decl string }{
	{"BUG_STRUCT_SIZE", "linux/bug.h", "struct bug_entry"},
	{"EX_STRUCT_SIZE", "asm/extable.h", "struct exception_table_entry"},
	{"JUMP_STRUCT_SIZE", "linux/jump_label.h", "struct jump_entry"},
	{"ALT_STRUCT_SIZE", "asm/alternative.h", "struct alt_instr"},
	{"PARA_STRUCT_SIZE", "asm/paravirt_types.h", "struct paravirt_patch_site"},
	{"STATIC_CALL_STRUCT_SIZE", "linux/static_call_types.h", "struct static_call_site"},
	{"ORC_STRUCT_SIZE", "asm/orc_types.h", "struct orc_entry"},
	{"PRINTK_INDEX_STRUCT_SIZE", "linux/printk.h", "struct pi_entry"},
}

// structSizes measures the special-section structs by compiling a probe
// against the tree's headers with the tree's flags (the reference reads
// them from vmlinux's DWARF, which the bundled kernel does not have). A
// struct the tree does not define is left out.
func structSizes(tree, cc string) (map[string]string, error) {
	flags, err := treeCFlags(tree)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kpatch-sizes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sizes := map[string]string{}
	for _, p := range structProbes {
		src := filepath.Join(dir, p.env+".c")
		code := fmt.Sprintf("#include <linux/kernel.h>\n#include <%s>\nconst unsigned long kpatch_size = sizeof(%s);\n", p.header, p.decl)
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			return nil, fmt.Errorf("struct size probe %s: %w", p.env, err)
		}
		obj := filepath.Join(dir, p.env+".o")
		cmd := exec.Command(cc, append(strings.Fields(string(flags)), "-c", "-o", obj, src)...)
		cmd.Dir = tree
		if cmd.Run() != nil {
			continue
		}
		f, err := elfobj.Open(obj)
		if err != nil {
			continue
		}
		if s := f.SymbolByName("kpatch_size"); s != nil && s.Section != nil && int(s.Value)+8 <= len(s.Section.Data) {
			d := s.Section.Data[s.Value:]
			n := uint64(d[0]) | uint64(d[1])<<8 | uint64(d[2])<<16 | uint64(d[3])<<24
			sizes[p.env] = fmt.Sprint(n)
		}
	}
	return sizes, nil
}

// cachedStructSizes measures the struct sizes once per running kernel
// build and keeps them beside it.
func cachedStructSizes(running, tree, cc string) (map[string]string, error) {
	path := filepath.Join(running, ".kpatch-struct-sizes.json")
	if b, err := os.ReadFile(path); err == nil {
		var m map[string]string
		if json.Unmarshal(b, &m) == nil {
			return m, nil
		}
	}
	m, err := structSizes(tree, cc)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(m)
	if err := worktree.ReplaceFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("struct sizes of the bundled kernel: %w", err)
	}
	return m, nil
}

// JSON renders the report.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}
