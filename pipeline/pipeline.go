// Package pipeline is kpatch-build's main job: from a kernel source tree
// and source patches to a live-patch module, in named stages over the
// kernel being patched (package kernel), one path for every kernel:
//
//  1. the patches are read and refused where they cannot be live
//     patched (readPatches: package patch, and a Linux tree's build
//     files and generated files);
//  2. the kernel is chosen from the source tree (kernelOf: a
//     distribution kernel, package kernel/distro, for a Linux tree; the
//     bundled kernel, package kernel/bundled, for any other) and its
//     facts found (release, compiler, struct sizes, Module.symvers);
//  3. the kernel builds the objects the patches change, original and
//     patched, each with its parent (vmlinux or a module);
//  4. the kernel's own checks run on them (the distribution kernel's
//     proof against the running kernel and layout guard);
//  5. diffObjects diffs each object against its parent's symbols, in
//     parallel (package elfdiff);
//  6. the kernel links the module from the diff outputs;
//  7. finishModule checks the module's hardening and its undefined
//     symbols against Module.symvers.
//
// Verification is the kernel's too (Result.Kernel.Verify, with the
// checks ReadChecks read for its verifier before anything was built).
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/patch"
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
	// MaxObjects is the most objects a patch may need compiled (real
	// trees); 0 is DefaultMaxObjects, a negative number no limit.
	MaxObjects int
	// Distcc compiles the objects through distcc (real trees; also
	// when DISTCC_HOSTS is set).
	Distcc bool

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
	// Chosen says, per compiled object of a real tree, why it was
	// compiled: the patched file, its changed entity and the reason
	// (an object chosen for several entities is listed once for each).
	Chosen []ChosenObject `json:"chosen,omitempty"`
	// Proof is, per original object of a real tree, what the comparison
	// with the running kernel proved (package proof).
	Proof []proof.Result `json:"proof,omitempty"`
	Error string         `json:"error,omitempty"`
}

// ChosenObject is why an object was compiled (Report.Chosen).
type ChosenObject = kernel.Chosen

// Result is a built patch module.
type Result struct {
	Module  string // path of the .ko
	Report  *Report
	Running string // the running kernel's tree (vmlinux, modules), or the prepared tree
	// Kernel is the kernel being patched: its Verify proves the module.
	Kernel kernel.Kernel
	// NewObjects are the tree-relative objects of new files the build
	// made (the bundled kernel).
	NewObjects []string
	// DiffObjects are the diff outputs the module is made of (they are
	// removed with the work directory unless KeepWork).
	DiffObjects []string
	// Release is the running kernel's release and Parents the modules
	// (by name) the patch changes.
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

// Run builds a patch module for the kernel of the source tree: it reads
// the patches, finds the kernel's facts, has the kernel build the objects
// the patches change and check them, diffs them, has the kernel link the
// module and checks the module.
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
	// The cache is named by its absolute path from here on (cache.Lock).
	var unlock func()
	o.CacheDir, unlock, err = cache.Lock(o.CacheDir, o.logf) // its errors name the cache
	if err != nil {
		return nil, err
	}
	defer unlock()
	if o.Name == "" {
		o.Name = module.NameFromPatches(o.Patches)
	}
	if err := module.CheckName(o.Name); err != nil {
		return nil, fmt.Errorf("module name %q: %w", o.Name, err)
	}
	k := o.kernelOf()
	res := &Result{Report: &Report{}, Kernel: k}
	facts, err := k.Facts(ctx)
	if err != nil {
		return res, err
	}
	res.Running, res.Release = facts.Tree, facts.Release
	built, err := k.Build(ctx, patches)
	if built != nil {
		res.Report.Fuzzed = built.Fuzzed
		res.Report.Chosen = built.Chosen
		res.NewObjects = built.NewNames
		if o.KeepWork {
			if werr := os.WriteFile(filepath.Join(built.WorkDir, cache.KeptMarker), nil, 0o644); werr != nil {
				o.logf("warning: the work tree %s is not marked kept: %v", built.WorkDir, werr)
			}
			o.logf("kept the work tree: %s", built.WorkDir)
		} else {
			defer os.RemoveAll(built.WorkDir)
		}
	}
	if err != nil {
		return res, err
	}
	sv, err := symtab.LoadSymvers(facts.Symvers)
	if err != nil {
		return res, err
	}
	tables, err := loadTables(built.Objects)
	if err != nil {
		return res, err
	}
	res.Report.Proof, err = k.Check(built.Objects, tables)
	if err != nil {
		return res, err
	}
	diffDir := filepath.Join(built.WorkDir, "diff")
	objs, err := o.diffObjects(built.Objects, tables, sv, facts.StructSizes, diffDir, res.Report)
	if err != nil {
		return res, err
	}
	res.DiffObjects = objs
	res.Parents = changedParents(built.Objects, objs, diffDir)
	if len(objs) == 0 && len(built.New) == 0 {
		return res, refusal.New(refusal.NoFunctionalChange)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return res, err
	}
	ko := o.modulePath()
	o.logf("building patch module %s", filepath.Base(ko))
	err = k.BuildModule(ctx, kernel.Module{Name: o.Name, Output: ko, Objects: objs, New: built.New, NonReplace: o.NonReplace,
		WorkDir: filepath.Join(built.WorkDir, "module")})
	if err != nil {
		return res, err
	}
	return res, finishModule(res, ko, sv)
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

// diffJob is one object's diff.
type diffJob struct {
	kernel.Object
	out    string
	report *elfdiff.Report
	err    error
	code   int
}

// loadTables loads the parents' symbol tables of the objects, each once
// in a run (the kernel's checks and the diff share them).
func loadTables(objs []kernel.Object) (map[string]*symtab.Table, error) {
	tables := map[string]*symtab.Table{}
	for _, o := range objs {
		if tables[o.Symtab] == nil {
			t, err := symtab.Load(o.Symtab)
			if err != nil {
				return nil, fmt.Errorf("symbols of %s: %w", o.Parent, err)
			}
			tables[o.Symtab] = t
		}
	}
	return tables, nil
}

// changedParents are the modules (by name) of the objects whose diff
// output (in dir) is among outs.
func changedParents(objs []kernel.Object, outs []string, dir string) []string {
	changed := map[string]bool{}
	for _, out := range outs {
		changed[out] = true
	}
	var parents []string
	for _, o := range objs {
		if changed[diffOutput(dir, o)] && o.Parent != kernel.Vmlinux && !slices.Contains(parents, o.Parent) {
			parents = append(parents, o.Parent)
		}
	}
	slices.Sort(parents)
	return parents
}

// diffOutput is where the diff of an object is written in dir.
func diffOutput(dir string, o kernel.Object) string {
	return filepath.Join(dir, strings.ReplaceAll(o.Name, "/", "__"))
}

// diffObjects diffs each object against its parent's symbols (tables),
// in parallel, writing the outputs into dir; it returns the outputs of
// the objects that changed.
func (o *Options) diffObjects(objects []kernel.Object, tables map[string]*symtab.Table, sv *symtab.Symvers, sizes map[string]string, dir string, report *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var jobs []*diffJob
	for _, obj := range objects {
		jobs = append(jobs, &diffJob{Object: obj, out: diffOutput(dir, obj)})
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
			orig, err := elfobj.Open(j.Orig)
			if err != nil {
				j.err, j.code = err, 1
				return
			}
			patched, err := elfobj.Open(j.Patched)
			if err != nil {
				j.err, j.code = err, 1
				return
			}
			orig.Name, patched.Name = "orig/"+j.Name, "patched/"+j.Name
			d, err := elfdiff.Diff(orig, patched, elfdiff.Options{Parent: j.Parent, Table: tables[j.Symtab], Symvers: sv,
				Getenv: func(k string) (string, bool) {
					if v, ok := os.LookupEnv(k); ok {
						return v, true
					}
					v, ok := sizes[k]
					return v, ok
				},
				Logf: func(f string, a ...any) { o.logf("%s: %s", j.Name, fmt.Sprintf(f, a...)) }})
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
			o.logf("%s: no functional change", j.Name)
		case j.err != nil:
			msg := j.err.Error()
			var e *refusal.Error
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

// JSON renders the report.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}
