package pipeline

import (
	"context"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/patch"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/debian"
	"github.com/kpatchgo/kpatch-build/kerneltree"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/proof"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// IsLinuxTree reports whether dir is a Linux kernel source tree (kbuild's
// top-level files), as opposed to the bundled kernel.
func IsLinuxTree(dir string) bool {
	return len(kerneltree.MissingTreeFiles(dir)) == 0
}

// bundledMakefile finds the print-cflags target of a tree like the
// bundled kernel's.
var bundledMakefile = regexp.MustCompile(`(?m)^print-cflags:`)

// CheckSourceDir checks that dir is a kernel tree kpatch-build builds
// from: a Linux tree (kbuild's top-level files) or a tree like the bundled
// kernel's (a Makefile with a print-cflags target). The error names the
// directory and what it lacks.
func CheckSourceDir(dir string) error {
	err := kerneltree.CheckSourceTree(dir)
	var nl *kerneltree.NotLinuxTreeError
	if !errors.As(err, &nl) {
		return err
	}
	if mk, err := os.ReadFile(filepath.Join(dir, "Makefile")); err == nil && bundledMakefile.Match(mk) {
		return nil
	}
	return fmt.Errorf("%s is not a kernel source tree: it has no %s (a Linux tree has Makefile, Kbuild, Kconfig and scripts/Makefile.build; the bundled kernel's tree has a Makefile with a print-cflags target)",
		dir, strings.Join(nl.Missing, ", "))
}

// checkSourceFiles refuses a patch's paths that are not the source tree's
// own files (dir): a file the patch changes, removes, renames or copies
// must be in the tree, as the earlier patches of the run leave it
// (earlier: the files they create, true, or remove, false); a file of a
// Linux tree that the preparation generates (.config,
// include/generated/...) is refused even where the user's tree has one.
// New files are allowed anywhere else in the tree.
func checkSourceFiles(p *patch.Patch, dir string, earlier map[string]bool) error {
	linux := IsLinuxTree(dir)
	for _, f := range p.Files {
		for _, n := range [][2]string{{f.Old, f.OldName}, {f.New, f.NewName}} {
			if n[0] == "" || !linux {
				continue
			}
			real, err := patch.ResolveInTree(dir, n[0])
			if err != nil {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: n[1], Err: err}
			}
			if kerneltree.IsGenerated(n[0]) || kerneltree.IsGenerated(real) {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: n[1], Err: refusal.New(refusal.PatchGenerated)}
			}
		}
		if f.Old != "" && !f.IsNew {
			exists, ok := earlier[f.Old]
			if !ok {
				_, err := os.Stat(filepath.Join(dir, f.Old))
				exists = err == nil
			}
			if !exists {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: f.OldName, Err: refusal.New(refusal.PatchNotInTree, dir)}
			}
		}
		if f.IsDelete || f.IsRename {
			earlier[f.Old] = false
		}
		if f.New != "" && !f.IsDelete {
			earlier[f.New] = true
		}
	}
	return nil
}

// runReal is the path of a real kernel: the facts of the running kernel
// from its vmlinux, a prepared work tree (cached), only the objects the
// patch can affect built (original ones cached), diffed against their
// parents, and the module built by the tree's kbuild. The kernel is never
// built whole and the user's tree never written.
func (o *Options) runReal(ctx context.Context, patches []*patch.Patch) (*Result, error) {
	res := &Result{Report: &Report{}}
	r, err := o.realKernel()
	if err != nil {
		return res, err
	}
	tree, err := kerneltree.Prepare(ctx, kerneltree.PrepareOptions{SourceDir: o.SourceDir, Config: o.Config, Symvers: r.Symvers,
		Release: r.Release, CC: r.CC, CacheDir: o.CacheDir, Jobs: o.Jobs, Log: o.Log, BuildLog: o.BuildLog})
	if err != nil {
		return res, err
	}
	res.Running = tree.Dir
	ix, err := kerneltree.LoadIndex(r, o.CacheDir, o.Log)
	if err != nil {
		return res, err
	}
	// The include lines are read in the prepared tree (its generated
	// headers include source ones), under its lock: another run's
	// patches are not in it meanwhile.
	var objects []*kerneltree.Object
	err = tree.Locked(func() (err error) {
		objects, err = affectedObjects(ix, tree.Dir, patches)
		return err
	})
	if err != nil {
		return res, err
	}
	kerneltree.RemoveStale(o.CacheDir, "work-")
	work, err := os.MkdirTemp(o.CacheDir, "work-")
	if err != nil {
		return res, err
	}
	if !o.KeepWork {
		defer os.RemoveAll(work)
	} else {
		os.WriteFile(filepath.Join(work, cache.KeptMarker), nil, 0o644)
		o.logf("work directory: %s", work)
	}
	var paths []string
	for _, obj := range objects {
		paths = append(paths, obj.Path)
	}
	paths = uniq(paths)
	o.logf("%d object(s) to build: %s", len(paths), abbreviate(paths, 8))
	built, err := tree.BuildObjects(ctx, kerneltree.ObjectsOptions{Objects: paths, Patches: patches, Fuzz: o.Fuzz, Headers: module.Headers(),
		WorkDir: work, Jobs: o.Jobs, Log: o.Log, BuildLog: o.BuildLog, FailLog: o.failLog(), Debug: o.Debug, MakeOnly: o.MakeOnly})
	if err != nil {
		return res, err
	}
	res.Report.Fuzzed = built.Fuzzed
	sv, err := symtab.LoadSymvers(r.Symvers)
	if err != nil {
		return res, err
	}
	var jobs []*diffJob
	for _, obj := range objects {
		j := &diffJob{obj: obj.Path, parent: obj.Parent, symtab: r.Vmlinux,
			orig: filepath.Join(built.OrigDir, obj.Path), patched: filepath.Join(built.PatchedDir, obj.Path)}
		if obj.Parent != kerneltree.Vmlinux {
			j.symtab = ix.Modules[obj.Parent]
			j.obj = obj.Parent + ":" + obj.Path
		}
		jobs = append(jobs, j)
	}
	if err := o.prove(jobs, res.Report); err != nil {
		return res, err
	}
	if err := o.checkLayouts(jobs); err != nil {
		return res, err
	}
	objs, err := o.diffObjects(jobs, sv, r.StructSizes, filepath.Join(work, "diff"), res.Report)
	if err != nil {
		return res, err
	}
	res.DiffObjects = objs
	res.Release = r.Release
	changed := map[string]bool{}
	for _, out := range objs {
		changed[out] = true
	}
	for _, j := range jobs {
		if changed[j.out] && j.parent != kerneltree.Vmlinux {
			res.Parents = append(res.Parents, j.parent)
		}
	}
	res.Parents = uniq(res.Parents)
	if len(objs) == 0 {
		return res, refusal.New(refusal.NoFunctionalChange)
	}
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return res, err
	}
	ko := o.modulePath()
	o.logf("building patch module %s", filepath.Base(ko))
	// The hook is compiled against the tree's headers: under the tree's
	// lock, so that no other run's patches are applied meanwhile.
	err = tree.Locked(func() error {
		return module.BuildKbuild(ctx, module.KbuildOptions{Name: o.Name, TreeDir: tree.Dir, Objects: objs, Release: r.Release, CC: r.CC, Vars: tree.Vars,
			NonReplace: o.NonReplace, Jobs: o.Jobs, WorkDir: filepath.Join(work, "module"), Output: ko, Log: o.Log, FailLog: o.failLog(),
			StateDir: tree.ModuleStateDir(), MakeOnly: o.MakeOnly, Debug: o.Debug})
	})
	if err != nil {
		return res, err
	}
	return res, finishModule(res, ko, sv)
}

// checkConfig compares the configuration with the one the running
// kernel's image package records (/boot/config-KVER), when it is there,
// and says which options differ: the proof then refuses the build if one
// of them changes a compiled object.
func (o *Options) checkConfig(release string) {
	boot := debian.At("/", release).BootConfig
	want, err := os.ReadFile(boot)
	if err != nil {
		return
	}
	got, err := os.ReadFile(o.Config)
	if err != nil {
		return // refused when the tree is prepared, with the file named
	}
	if d := kerneltree.ConfigDiff(debian.WithoutPackagingOptions(want), debian.WithoutPackagingOptions(got)); d != "" {
		o.logf("warning: %s differs from the running kernel's configuration %s: %s (the proof refuses the build if this changes a compiled object)", o.Config, boot, d)
	}
}

// prove compares every original object with the running kernel (package
// proof) before anything is diffed: a tree, configuration or compiler
// that is not the running kernel's refuses the build, naming the object
// and the function.
func (o *Options) prove(jobs []*diffJob, report *Report) error {
	if o.SkipProof {
		o.logf("WARNING: --skip-proof: the original objects are not compared with the running kernel; a source tree, configuration or compiler that differs goes into the module unnoticed")
		return nil
	}
	start := time.Now()
	tables, err := o.loadTables(jobs)
	if err != nil {
		return err
	}
	var objs []proof.Object
	for _, j := range jobs {
		objs = append(objs, proof.Object{Name: j.obj, Path: j.orig, Parent: j.parent, Kernel: j.symtab, Table: tables[j.symtab]})
	}
	results, err := proof.Prove(objs)
	report.Proof = results
	var m *proof.Mismatch
	if errors.As(err, &m) {
		return refusal.New(refusal.KernelMismatch, m.Object, m.Function, m.Difference(), m.Cause())
	}
	if err != nil {
		return fmt.Errorf("proof against the running kernel: %w", err)
	}
	proven, unmatched := 0, 0
	masked := map[string]int{}
	for _, r := range results {
		proven += r.Proven
		unmatched += r.Unmatched
		for k, n := range r.Masked {
			masked[k] += n
		}
	}
	var kinds []string
	for k, n := range masked {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	o.logf("proved the %d original object(s) the running kernel's: %d function(s) equal, %d not in the kernel under their name; masked: %s (%.2fs)",
		len(results), proven, unmatched, strings.Join(kinds, ", "), time.Since(start).Seconds())
	return nil
}

// checkLayouts refuses a patch that changes the layout of a struct or
// union an original object defines (package proof's Layouts); types only
// the patched objects define are new code's, and logged.
func (o *Options) checkLayouts(jobs []*diffJob) error {
	for _, j := range jobs {
		added, err := proof.Layouts(j.obj, j.orig, j.patched)
		var lc *proof.LayoutChange
		if errors.As(err, &lc) {
			return refusal.New(refusal.LayoutChange, lc)
		}
		if err != nil {
			return err
		}
		if len(added) > 0 {
			o.logf("%s: type(s) only the patched object uses (new code): %s", j.obj, strings.Join(added, ", "))
		}
	}
	return nil
}

// realKernel finds the running kernel's facts; a real tree needs its
// vmlinux (the kernel is never built here).
func (o *Options) realKernel() (*kerneltree.Running, error) {
	if o.Vmlinux == "" {
		return nil, refusal.New(refusal.NeedVmlinux, o.SourceDir)
	}
	r, err := kerneltree.FindRunning(o.Vmlinux, kerneltree.Overrides{Release: o.Release, Symvers: o.Symvers, DebugModules: o.DebugModules,
		CC: o.CC, Config: o.Config, SkipCompilerCheck: o.SkipCompilerCheck, CacheDir: o.CacheDir})
	if err != nil {
		var ce *kerneltree.CompilerError
		if errors.As(err, &ce) {
			return nil, refusal.New(refusal.CompilerMissing, err)
		}
		return nil, err
	}
	if o.Config == "" {
		if r.Config == "" {
			return nil, refusal.New(refusal.NoConfig)
		}
		o.Config = r.Config
	}
	o.logf("running kernel %s (%s, %s)", r.Release, r.CC, filepath.Base(r.Vmlinux))
	o.checkConfig(r.Release)
	return r, nil
}

// lineOf returns the line of the patch's header for the tree path f.
func lineOf(p *patch.Patch, f string) int {
	for _, tp := range p.Paths() {
		if tp.Path == f {
			return tp.Line
		}
	}
	return 0
}

// affectedObjects are the objects of the running kernel a patch can
// change: a C file's object, a header's every includer (in vmlinux and
// in modules, through the prepared tree's include lines).
func affectedObjects(ix *kerneltree.Index, tree string, patches []*patch.Patch) ([]*kerneltree.Object, error) {
	seen := map[*kerneltree.Object]bool{}
	var out []*kerneltree.Object
	for _, p := range patches {
		for old, nw := range p.Renames() {
			if strings.HasSuffix(old, ".c") || strings.HasSuffix(old, ".h") {
				return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, old), Err: refusal.New(refusal.RealRename, old, nw)}
			}
		}
		for _, touched := range p.Touched() {
			// The file the kernel's build reads: a path through a
			// symlinked directory of the tree
			// (scripts/dtc/include-prefixes/...) is its target's.
			f, err := patch.ResolveParentInTree(tree, touched)
			if err != nil {
				return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: err}
			}
			var objs []*kerneltree.Object
			if strings.HasSuffix(f, ".h") {
				users, err := ix.HeaderUsers(tree, f)
				if err != nil {
					return nil, fmt.Errorf("objects including %s: %w", f, err)
				}
				objs = users
			}
			own := 0
			for _, obj := range ix.ObjectsOf(f) {
				if ix.Source(obj) == f {
					objs = append(objs, obj)
					own++
				}
			}
			if own == 0 && strings.HasSuffix(f, ".c") {
				// A C file with no object of its own is #included
				// by others (kernel/sched/stats.c by
				// build_utility.c): their line tables name it.
				objs = append(objs, ix.ObjectsOf(f)...)
				users, err := ix.HeaderUsers(tree, f)
				if err != nil {
					return nil, fmt.Errorf("objects including %s: %w", f, err)
				}
				objs = append(objs, users...)
			}
			if len(objs) == 0 {
				if strings.HasSuffix(f, ".c") || strings.HasSuffix(f, ".h") {
					return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: notCompiled(touched, f)}
				}
				continue // Makefiles, documentation: nothing to diff
			}
			for _, obj := range objs {
				if !seen[obj] {
					seen[obj] = true
					out = append(out, obj)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, refusal.New(refusal.NoCSource)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Path != out[b].Path {
			return out[a].Path < out[b].Path
		}
		return out[a].Parent < out[b].Parent
	})
	return out, nil
}

// notCompiled is the refusal of a patched file no object is built from;
// for a path through a symlink, it names the file the link leads to.
func notCompiled(touched, real string) error {
	if real != touched {
		return fmt.Errorf("%w (the file is %s, through a symlink of the tree)", refusal.New(refusal.NotCompiled), real)
	}
	return refusal.New(refusal.NotCompiled)
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// abbreviate lists up to n items and counts the rest.
func abbreviate(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, " ")
	}
	return fmt.Sprintf("%s ... (%d more)", strings.Join(s[:n], " "), len(s)-n)
}

func asCompilerError(err error, target **kerneltree.CompilerError) bool {
	return errors.As(err, target)
}
