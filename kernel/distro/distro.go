// Package distro is a distribution kernel as the kernel being patched
// (package kernel): a Linux source tree matching an installed kernel
// package (package debian knows where a kernel line's files are). Its
// facts come from the -v vmlinux (package kerneltree: release, compiler,
// struct sizes from DWARF, Module.symvers, debug modules), the tree is
// prepared once (olddefconfig, modules_prepare; cached), the objects the
// patches can change are found in the debug-info index and the include
// lines (affectedObjects) and only those are built, original and patched.
// Before the diff every original object is proved equal to the running
// kernel's (package proof) and the patch's struct layouts are guarded;
// the module is built with the tree's kbuild (module.BuildKbuild: its
// recorded commands once kbuild has built one, make otherwise) and
// verified under qemu with the running kernel (package guest). The kernel
// is never built whole and the user's tree never written.
package distro

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/debian"
	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/guest"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/kerneltree"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/proof"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Kernel is a distribution kernel and its source tree.
type Kernel struct {
	s       kernel.Settings
	running *kerneltree.Running
	tree    *kerneltree.Tree
	index   *kerneltree.Index
}

// New returns the distribution kernel of s.SourceDir and s.Vmlinux; it
// reads every setting but Targets.
func New(s kernel.Settings) *Kernel {
	if s.Jobs <= 0 {
		s.Jobs = 1
	}
	return &Kernel{s: s}
}

// Facts finds the running kernel's facts from its vmlinux, prepares the
// tree (cached) and loads the debug-info index of its objects (cached).
func (k *Kernel) Facts(ctx context.Context) (*kernel.Facts, error) {
	r, err := k.realKernel()
	if err != nil {
		return nil, err
	}
	tree, err := kerneltree.Prepare(ctx, kerneltree.PrepareOptions{SourceDir: k.s.SourceDir, Config: k.s.Config, Symvers: r.Symvers,
		Release: r.Release, CC: r.CC, CacheDir: k.s.CacheDir, Jobs: k.s.Jobs, Log: k.s.Log, BuildLog: k.s.BuildLog})
	if err != nil {
		return nil, err
	}
	ix, err := kerneltree.LoadIndex(r, k.s.CacheDir, k.s.Log)
	if err != nil {
		return nil, err
	}
	k.running, k.tree, k.index = r, tree, ix
	return &kernel.Facts{Release: r.Release, CC: r.CC, StructSizes: r.StructSizes, Symvers: r.Symvers, Config: k.s.Config,
		Vmlinux: r.Vmlinux, Tree: tree.Dir}, nil
}

// realKernel finds the running kernel's facts; a real tree needs its
// vmlinux (the kernel is never built here).
func (k *Kernel) realKernel() (*kerneltree.Running, error) {
	if k.s.Vmlinux == "" {
		return nil, refusal.New(refusal.NeedVmlinux, k.s.SourceDir)
	}
	r, err := kerneltree.FindRunning(k.s.Vmlinux, kerneltree.Overrides{Release: k.s.Release, Symvers: k.s.Symvers, DebugModules: k.s.DebugModules,
		CC: k.s.CC, Config: k.s.Config, SkipCompilerCheck: k.s.SkipCompilerCheck, CacheDir: k.s.CacheDir})
	if err != nil {
		var ce *kerneltree.CompilerError
		if errors.As(err, &ce) {
			return nil, refusal.New(refusal.CompilerMissing, err)
		}
		return nil, err
	}
	if k.s.Config == "" {
		if r.Config == "" {
			return nil, refusal.New(refusal.NoConfig)
		}
		k.s.Config = r.Config
	}
	k.s.Logf("running kernel %s (%s, %s)", r.Release, r.CC, filepath.Base(r.Vmlinux))
	k.checkConfig(r.Release)
	return r, nil
}

// checkConfig compares the configuration with the one the running
// kernel's image package records (/boot/config-KVER), when it is there,
// and says which options differ: the proof then refuses the build if one
// of them changes a compiled object.
func (k *Kernel) checkConfig(release string) {
	boot := debian.At("/", release).BootConfig
	want, err := os.ReadFile(boot)
	if err != nil {
		return
	}
	got, err := os.ReadFile(k.s.Config)
	if err != nil {
		return // refused when the tree is prepared, with the file named
	}
	if d := kerneltree.ConfigDiff(debian.WithoutPackagingOptions(want), debian.WithoutPackagingOptions(got)); d != "" {
		k.s.Logf("warning: %s differs from the running kernel's configuration %s: %s (the proof refuses the build if this changes a compiled object)", k.s.Config, boot, d)
	}
}

// Build finds the objects the patches can change (affectedObjects) and
// builds only those, original (cached) and patched, in a new work
// directory of the cache.
func (k *Kernel) Build(ctx context.Context, patches []*patch.Patch) (*kernel.Built, error) {
	if k.running == nil {
		return nil, kernel.ErrNoFacts
	}
	// The include lines are read in the prepared tree (its generated
	// headers include source ones), under its lock: another run's
	// patches are not in it meanwhile.
	var objects []*kerneltree.Object
	var reasons []kerneltree.Reason
	err := k.tree.Locked(func() (err error) {
		objects, reasons, err = k.affectedObjects(patches)
		return err
	})
	if err != nil {
		return nil, err
	}
	work, err := cache.WorkDir(k.s.CacheDir)
	if err != nil {
		return nil, err
	}
	b := &kernel.Built{WorkDir: work, Chosen: chosen(reasons)}
	var paths []string
	for _, obj := range objects {
		paths = append(paths, obj.Path)
	}
	paths = uniq(paths)
	k.s.Logf("%d object(s) to build: %s", len(paths), abbreviate(paths, 8))
	env, makeJobs, err := k.distcc(k.running.CC, work)
	if err != nil {
		return b, err
	}
	built, err := k.tree.BuildObjects(ctx, kerneltree.ObjectsOptions{Objects: paths, Patches: patches, Fuzz: k.s.Fuzz, Headers: module.Headers(),
		WorkDir: work, Jobs: makeJobs, Env: env, Log: k.s.Log, BuildLog: k.s.BuildLog, FailLog: k.s.FailLog, Debug: k.s.Debug, MakeOnly: k.s.MakeOnly})
	if err != nil {
		return b, err
	}
	b.Fuzzed = built.Fuzzed
	for _, obj := range objects {
		o := kernel.Object{Name: obj.Path, Parent: obj.Parent, Symtab: k.running.Vmlinux,
			Orig: filepath.Join(built.OrigDir, obj.Path), Patched: filepath.Join(built.PatchedDir, obj.Path)}
		if obj.Parent != kerneltree.Vmlinux {
			o.Symtab = k.index.Modules[obj.Parent]
			o.Name = obj.Parent + ":" + obj.Path
		}
		b.Objects = append(b.Objects, o)
	}
	return b, nil
}

// Check proves every original object the running kernel's (unless
// SkipProof) and refuses a patch that changes a struct's layout.
func (k *Kernel) Check(objs []kernel.Object, tables map[string]*symtab.Table) ([]proof.Result, error) {
	results, err := k.prove(objs, tables)
	if err != nil {
		return results, err
	}
	return results, k.checkLayouts(objs)
}

// prove compares every original object with the running kernel (package
// proof) before anything is diffed: a tree, configuration or compiler
// that is not the running kernel's refuses the build, naming the object
// and the function.
func (k *Kernel) prove(objs []kernel.Object, tables map[string]*symtab.Table) ([]proof.Result, error) {
	if k.s.SkipProof {
		k.s.Logf("WARNING: --skip-proof: the original objects are not compared with the running kernel; a source tree, configuration or compiler that differs goes into the module unnoticed")
		return nil, nil
	}
	start := time.Now()
	var pos []proof.Object
	for _, o := range objs {
		pos = append(pos, proof.Object{Name: o.Name, Path: o.Orig, Parent: o.Parent, Kernel: o.Symtab, Table: tables[o.Symtab]})
	}
	results, err := proof.Prove(pos)
	var m *proof.Mismatch
	if errors.As(err, &m) {
		return results, refusal.New(refusal.KernelMismatch, m.Object, m.Function, m.Difference(), m.Cause())
	}
	if err != nil {
		return results, fmt.Errorf("proof against the running kernel: %w", err)
	}
	proven, unmatched := 0, 0
	masked := map[string]int{}
	for _, r := range results {
		proven += r.Proven
		unmatched += r.Unmatched
		for kind, n := range r.Masked {
			masked[kind] += n
		}
	}
	var kinds []string
	for kind, n := range masked {
		kinds = append(kinds, fmt.Sprintf("%s %d", kind, n))
	}
	sort.Strings(kinds)
	k.s.Logf("proved the %d original object(s) the running kernel's: %d function(s) equal, %d not in the kernel under their name; masked: %s (%.2fs)",
		len(results), proven, unmatched, strings.Join(kinds, ", "), time.Since(start).Seconds())
	return results, nil
}

// checkLayouts refuses a patch that changes the layout of a struct or
// union an original object defines (package proof's Layouts); types only
// the patched objects define are new code's, and logged.
func (k *Kernel) checkLayouts(objs []kernel.Object) error {
	for _, o := range objs {
		added, err := proof.Layouts(o.Name, o.Orig, o.Patched)
		var lc *proof.LayoutChange
		if errors.As(err, &lc) {
			return refusal.New(refusal.LayoutChange, lc)
		}
		if err != nil {
			return err
		}
		if len(added) > 0 {
			k.s.Logf("%s: type(s) only the patched object uses (new code): %s", o.Name, strings.Join(added, ", "))
		}
	}
	return nil
}

// BuildModule builds the module with the prepared tree's kbuild. The
// hook is compiled against the tree's headers: under the tree's lock, so
// that no other run's patches are applied meanwhile.
func (k *Kernel) BuildModule(ctx context.Context, m kernel.Module) error {
	if k.running == nil {
		return kernel.ErrNoFacts
	}
	return k.tree.Locked(func() error {
		return module.BuildKbuild(ctx, module.KbuildOptions{Name: m.Name, TreeDir: k.tree.Dir, Objects: m.Objects, NewObjects: m.New,
			Release: k.running.Release, CC: k.running.CC, Vars: k.tree.Vars, NonReplace: m.NonReplace, Jobs: k.s.Jobs,
			WorkDir: m.WorkDir, Output: m.Output, Log: k.s.Log, FailLog: k.s.FailLog,
			StateDir: k.tree.ModuleStateDir(), MakeOnly: k.s.MakeOnly, Debug: k.s.Debug})
	})
}

// Verifier is qemu with the running kernel.
func (k *Kernel) Verifier() expect.Verifier { return expect.Qemu }

// Verify proves the module under qemu with the running kernel itself: it
// boots the kernel, runs the checks of each PATCH.expect without the
// patch, loads the module and waits for its transition, runs them with
// it, disables and unloads it and runs them again. Modules the patch
// changes (and the expectations' kmod lines) are loaded before the
// patch; a second boot loads them after it (late module patching). The
// checks must tell the patch from no patch: one of them at least must
// fail its patched regexp without the patch. Its last line says what was
// proved: VERIFIED (load, transition, unload; ...) with the behaviour
// checks, or that there were none.
func (k *Kernel) Verify(ctx context.Context, v kernel.Verification) error {
	if k.running == nil {
		return kernel.ErrNoFacts
	}
	e := v.Checks
	kmods := uniq(append(append([]string(nil), v.Parents...), e.Kmods...))
	opts := guest.Options{Release: k.running.Release, KVM: v.KVM, Log: v.Log}
	runs := []guest.Verify{{Module: v.Module, Preload: kmods, Checks: e.Guest}}
	if len(kmods) > 0 {
		runs = append(runs, guest.Verify{Module: v.Module, Preload: kmods, Checks: e.Guest, LateLoad: true})
	}
	var distinct []int
	for _, run := range runs {
		how := "under qemu"
		if run.LateLoad {
			how += ", the target modules loaded after the patch"
		}
		v.Log("verifying %s %s (%d check(s))", filepath.Base(v.Module), how, len(run.Checks))
		r, err := guest.VerifyPatch(ctx, opts, run)
		if v.Interrupted() {
			return err // the caller says it was interrupted
		}
		if r != nil {
			fmt.Fprint(v.Stdout, r.Summary)
		}
		var ge *guest.Error
		if errors.As(err, &ge) && ge.Indistinct != "" && len(ge.Problems) == 1 {
			return refusal.New(refusal.VerifyIndistinct, ge.Indistinct)
		}
		if err != nil {
			return refusal.New(refusal.VerifyFailed, err)
		}
		if !run.LateLoad {
			distinct = r.Distinct
		}
	}
	fmt.Fprintln(v.Stdout, verifiedLine(len(e.Guest), len(distinct)))
	return nil
}

// verifiedLine is the last line of a verification that passed: what it
// proved.
func verifiedLine(checks, distinct int) string {
	if checks == 0 {
		return "VERIFIED (load, transition, unload; no behaviour checks)"
	}
	return fmt.Sprintf("VERIFIED (load, transition, unload; %d behaviour check(s), %d telling the patch from no patch)", checks, distinct)
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
