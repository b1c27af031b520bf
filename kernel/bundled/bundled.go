// Package bundled is the bundled kernel (emulator/kernel's C kernel, or a
// tree like it: a Makefile with a print-cflags target) as the kernel
// being patched (package kernel): the running kernel and the original
// tree are built whole (cached, package kbuild), the patched tree
// rebuilt, every recompiled object diffed against its parent (vmlinux or
// modules/NAME/NAME.ko of the running build); struct sizes come from a
// probe compiled against the tree's headers, the module is linked by
// module.Build, and it is verified in the emulated target
// (emulator/livepatch).
package bundled

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/proof"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
	"github.com/kpatchgo/kpatch-build/worktree"
)

// Kernel is the bundled kernel of a source tree.
type Kernel struct {
	s     kernel.Settings
	facts *kernel.Facts
}

// New returns the bundled kernel of s.SourceDir; it reads SourceDir,
// Config, Vmlinux, Symvers, CC, CacheDir, Jobs, Fuzz, Targets,
// SkipCompilerCheck, Log, BuildLog and FailLog.
func New(s kernel.Settings) *Kernel {
	if s.Jobs <= 0 {
		s.Jobs = 1
	}
	return &Kernel{s: s}
}

// cc is the compiler of the bundled kernel's builds: the configured one,
// gcc when none is.
func (k *Kernel) cc() string {
	if k.s.CC != "" {
		return k.s.CC
	}
	return "gcc"
}

// Facts builds the running kernel (cached), checks the compiler against
// its vmlinux and measures the struct sizes (cached beside it).
func (k *Kernel) Facts(ctx context.Context) (*kernel.Facts, error) {
	running, err := k.runningKernel(ctx)
	if err != nil {
		return nil, err
	}
	vmlinux := k.s.Vmlinux
	if vmlinux == "" {
		vmlinux = filepath.Join(running, "vmlinux")
	}
	if !k.s.SkipCompilerCheck {
		if err := checkCompiler(vmlinux, k.cc()); err != nil {
			return nil, err
		}
	}
	sizes, err := cachedStructSizes(k.s.CacheDir, running, k.s.SourceDir, k.cc())
	if err != nil {
		return nil, err
	}
	symvers := k.s.Symvers
	if symvers == "" {
		symvers = filepath.Join(filepath.Dir(vmlinux), "Module.symvers")
	}
	release, _ := exec.CommandContext(ctx, "make", "-s", "-C", k.s.SourceDir, "kernelrelease").Output()
	k.facts = &kernel.Facts{Release: strings.TrimSpace(string(release)), CC: k.cc(), StructSizes: sizes, Symvers: symvers,
		Config: k.s.Config, Vmlinux: vmlinux, Tree: running}
	return k.facts, nil
}

// Build copies the cached original build, applies the patches and
// rebuilds (package kbuild); every recompiled object is a changed one
// (diffed against the running build's vmlinux or module), and a renamed
// file's object is paired with its original.
func (k *Kernel) Build(ctx context.Context, patches []*patch.Patch) (*kernel.Built, error) {
	if k.facts == nil {
		return nil, kernel.ErrNoFacts
	}
	br, err := kbuild.Run(ctx, kbuild.Options{SourceDir: k.s.SourceDir, Config: k.s.Config, CacheDir: k.s.CacheDir, Patches: patches,
		Fuzz: k.s.Fuzz, CC: k.cc(), Jobs: k.s.Jobs, Targets: k.s.Targets, Log: k.s.Log, BuildLog: k.s.BuildLog, FailLog: k.s.FailLog})
	if br == nil {
		return nil, err
	}
	b := &kernel.Built{Fuzzed: br.Fuzzed, WorkDir: filepath.Dir(br.WorkDir)}
	if err == nil {
		err = ctx.Err() // interrupted: no diffs, no module
	}
	if err != nil {
		return b, err
	}
	if len(br.Changed)+len(br.New) == 0 {
		return b, refusal.New(refusal.NoChangedObjects)
	}
	objs, fresh := renamedObjects(patches, br)
	for _, obj := range br.Changed {
		objs = append(objs, kernel.Object{Name: obj, Orig: filepath.Join(br.SavedDir, obj), Patched: filepath.Join(br.WorkDir, obj)})
	}
	for i := range objs {
		objs[i].Parent, objs[i].Symtab = kernel.Vmlinux, k.facts.Vmlinux
		if m := moduleOf(objs[i].Name); m != "" {
			objs[i].Parent = module.ModName(m)
			objs[i].Symtab = filepath.Join(k.facts.Tree, "modules", m, m+".ko")
		}
	}
	b.Objects = objs
	b.NewNames = br.New
	for _, n := range fresh {
		b.New = append(b.New, filepath.Join(br.WorkDir, n))
	}
	return b, nil
}

// Check has nothing to check: the running kernel is built from the tree
// itself.
func (k *Kernel) Check([]kernel.Object, map[string]*symtab.Table) ([]proof.Result, error) {
	return nil, nil
}

// BuildModule links the module against the tree's flags and module
// linker script (module.Build).
func (k *Kernel) BuildModule(ctx context.Context, m kernel.Module) error {
	if k.facts == nil {
		return kernel.ErrNoFacts
	}
	flags, err := treeCFlags(k.s.SourceDir)
	if err != nil {
		return err
	}
	script := filepath.Join(k.s.SourceDir, "scripts", "module.lds")
	if _, err := os.Stat(script); err != nil {
		script = ""
	}
	return module.Build(module.Options{Name: m.Name, Objects: m.Objects, NewObjects: m.New, TreeDir: k.s.SourceDir,
		CFlags: strings.Fields(string(flags)), ModuleScript: script, Release: k.facts.Release,
		NonReplace: m.NonReplace, WorkDir: m.WorkDir, Output: m.Output})
}

// Verifier is the emulated target.
func (k *Kernel) Verifier() expect.Verifier { return expect.Emulated }

// Verify loads the module in the emulated target booted from the running
// build's vmlinux, checks that every patched function's new body runs
// (or why-not-reached says why not) and that every check's text appears
// with the patch and neither before nor after it; it prints the summary
// and VERIFIED.
func (k *Kernel) Verify(ctx context.Context, v kernel.Verification) error {
	if k.facts == nil {
		return kernel.ErrNoFacts
	}
	c := v.Checks
	fmt.Fprintf(v.Stderr, "verifying %s in the emulated target\n", filepath.Base(v.Module))
	rep, err := livepatch.VerifyModule(v.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(k.facts.Tree, "vmlinux"),
		Checks: c.Checks, NotReached: c.NotReached})
	if err != nil {
		if rep != nil && rep.Console != "" {
			fmt.Fprintf(v.Stderr, "target console:\n%s", rep.Console)
		}
		return refusal.New(refusal.VerifyFailed, err)
	}
	fmt.Fprint(v.Stdout, rep.Summary())
	for _, ch := range c.Own {
		if !strings.Contains(rep.Patched[ch.Name], ch.Want) {
			return refusal.New(refusal.VerifyMissing, ch.Name, ch.Want, rep.Patched[ch.Name])
		}
		if strings.Contains(rep.Before[ch.Name], ch.Want) || strings.Contains(rep.After[ch.Name], ch.Want) {
			return refusal.New(refusal.VerifyUnpatched, ch.Name, ch.Want)
		}
		fmt.Fprintf(v.Stdout, "  check %s: %q appears with the patch only\n", ch.Name, ch.Want)
	}
	fmt.Fprintln(v.Stdout, "VERIFIED")
	return nil
}

// renamedObjects pairs the objects of files the patches rename (git
// renames with changes) with their originals: the object of the new name
// is diffed against the original build's object of the old name, as one
// changed object. It returns those objects and the objects that are
// really new.
func renamedObjects(patches []*patch.Patch, br *kbuild.Result) ([]kernel.Object, []string) {
	objOf := func(src string) string { return strings.TrimSuffix(src, filepath.Ext(src)) + ".o" }
	from := map[string]string{} // new object -> old object
	for _, p := range patches {
		for old, nw := range p.Renames() {
			if strings.HasSuffix(old, ".c") && strings.HasSuffix(nw, ".c") {
				from[objOf(nw)] = objOf(old)
			}
		}
	}
	var objs []kernel.Object
	var fresh []string
	for _, n := range br.New {
		old, ok := from[n]
		orig := filepath.Join(br.OrigDir, old)
		if _, err := os.Stat(orig); !ok || err != nil {
			fresh = append(fresh, n)
			continue
		}
		objs = append(objs, kernel.Object{Name: n, Orig: orig, Patched: filepath.Join(br.WorkDir, n)})
	}
	return objs, fresh
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

// runningKernel returns a tree holding the running kernel's build: the
// tree built as it is, without kpatch-build's flags (its layout differs
// from the function-section build that is diffed). It is cached.
func (k *Kernel) runningKernel(ctx context.Context) (string, error) {
	key, err := kbuild.CacheKey(&kbuild.Options{SourceDir: k.s.SourceDir, CC: k.cc(), Targets: []string{"running"}})
	if err != nil {
		return "", err
	}
	dir, _, err := cache.Cached(k.s.CacheDir, "running-"+key, func(tmp string) error {
		k.s.Logf("building the running kernel")
		if err := worktree.CopyTree(k.s.SourceDir, tmp); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "make", "-s", "-C", tmp, fmt.Sprintf("-j%d", k.s.Jobs), "CC="+k.cc())
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
	if err := os.WriteFile(src, []byte("int kpatch_compiler_check;\n"), 0o644); err != nil {
		return fmt.Errorf("compiler check: %w", err)
	}
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
// build (the cache entry running) and keeps them in the cache.
func cachedStructSizes(cacheDir, running, tree, cc string) (map[string]string, error) {
	var m map[string]string
	_, err := cache.Load(cacheDir, "sizes-"+cache.Key(cache.Parts{"running kernel": filepath.Base(running)}), func() ([]byte, error) {
		m, err := structSizes(tree, cc)
		if err != nil {
			return nil, err
		}
		return json.Marshal(m)
	}, func(b []byte) error {
		m = nil
		return json.Unmarshal(b, &m)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
