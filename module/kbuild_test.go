package module_test

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// realEnv is what a real-kernel module test needs from the Debian packages.
type realEnv struct {
	kver, build, vmlinux string
}

// needReal returns the installed Debian kernel packages (headers, gcc-12,
// and the debug vmlinux when withVmlinux), or skips the test when they are
// absent (fails instead when CI=true, where they are installed).
func needReal(t *testing.T, withVmlinux bool) realEnv {
	t.Helper()
	k, err := testutil.FindDebianKernel()
	if err != nil {
		testutil.Missing(t, "%v (tools/realkernel-setup.sh installs it)", err)
	}
	t.Logf("real kernel: %s (series %s)", k.Release, testutil.TestSeries)
	kver := k.Release
	e := realEnv{kver: kver, build: k.Build, vmlinux: k.Vmlinux}
	missing := func(what string) {
		t.Helper()
		msg := what + " missing: install Debian's linux-headers-" + kver + ", linux-image-" + kver + "-dbg and gcc-12 (tools/realkernel-setup.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	need := []string{filepath.Join(e.build, ".config"), filepath.Join(e.build, "Module.symvers"),
		filepath.Join(e.build, "scripts", "mod", "modpost")}
	if withVmlinux {
		need = append(need, e.vmlinux)
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			missing(p)
		}
	}
	for _, tool := range []string{"gcc-12", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool)
		}
	}
	return e
}

// compileObject builds the C file src in dir as kbuild would (with
// function and data sections and kpatch-macros.h on the include path)
// against the installed headers, and returns the object.
func compileObject(t *testing.T, e realEnv, src, dir, include string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	obj := strings.TrimSuffix(filepath.Base(src), ".c") + ".o"
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("obj-m := "+obj+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "-C", e.build, "M="+dir, "CC=gcc-12", "KERNELRELEASE="+e.kver,
		"KCFLAGS=-ffunction-sections -fdata-sections -I"+include, obj)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile %s: %v\n%s", src, err, out)
	}
	return filepath.Join(dir, obj)
}

// writeMacros puts the patch-author headers (kpatch-macros.h,
// kpatch-syscall.h) in dir/include and returns that directory.
func writeMacros(t *testing.T, dir string) string {
	t.Helper()
	include := filepath.Join(dir, "include")
	if err := module.WriteHeaders(include); err != nil {
		t.Fatal(err)
	}
	return include
}

// pointee names what a record's relocation points at: a function (a
// local one through its section symbol), or the string a pointer to a
// string designates.
func pointee(f *elfobj.File, r elfobj.Reloc, isString bool) string {
	switch {
	case isString && r.Sym.Section != nil:
		d := r.Sym.Section.Data[r.Sym.Value+uint64(r.Addend):]
		s, _, _ := strings.Cut(string(d), "\x00")
		return s
	case r.Sym.Type == elf.STT_SECTION:
		// gcc points at a local function through its section.
		for _, fn := range f.Symbols {
			if fn.Type == elf.STT_FUNC && fn.Section == r.Sym.Section && int64(fn.Value) == r.Addend {
				return fn.Name
			}
		}
	}
	return r.Sym.Name
}

// calls lists what the relocations of function fn's section refer to
// (functions by name, calls with their -4 addend as well), in order.
func calls(t *testing.T, f *elfobj.File, fn string) []string {
	t.Helper()
	sym := f.SymbolByName(fn)
	if sym == nil || sym.Section == nil || sym.Section.Rela == nil {
		t.Errorf("%s: no function %s with relocations", f.Name, fn)
		return nil
	}
	s := sym.Section
	var out []string
	for _, r := range s.Rela.Relocs {
		if r.Sym.Type == elf.STT_SECTION {
			r.Addend += 4 // a call's operand points 4 bytes before the callee
		}
		out = append(out, pointee(f, r, false))
	}
	return out
}

// TestMacrosHeader compiles every macro of kpatch-macros.h and
// kpatch-syscall.h (testdata/kbuild/macros.c and callbacks.c, the README's
// table of the patch-author API) against the real kernel's headers with
// kpatch-build's flags, and checks what each one leaves in the object: the
// records in the sections the diff engine reads, pointing at the right
// function or name; the calls of the printk macros; an indirect call
// through the key instead of a static call site; and the system call entry
// points of the architecture with the body in a new function.
func TestMacrosHeader(t *testing.T) {
	e := needReal(t, false)
	tmp := t.TempDir()
	include := writeMacros(t, tmp)
	f, err := elfobj.Open(compileObject(t, e, filepath.Join("testdata", "kbuild", "macros.c"), filepath.Join(tmp, "macros"), include))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := elfobj.Open(compileObject(t, e, filepath.Join("testdata", "kbuild", "callbacks.c"), filepath.Join(tmp, "callbacks"), include))
	if err != nil {
		t.Fatal(err)
	}

	// The records: one pointer (a callback: { fn, objname = NULL }) each.
	for _, c := range []struct {
		macro   string
		obj     *elfobj.File
		section string
		target  string
	}{
		{"KPATCH_PRE_PATCH_CALLBACK", f, kpatchfmt.CallbackPrefix + "pre_patch", "kpg_macros_pre_patch"},
		{"KPATCH_LOAD_HOOK", f, kpatchfmt.CallbackPrefix + "post_patch", "__kpatch_load_hook_kpg_macros_load"},
		{"KPATCH_UNLOAD_HOOK", f, kpatchfmt.CallbackPrefix + "pre_unpatch", "__kpatch_unload_hook_kpg_macros_unload"},
		{"KPATCH_POST_UNPATCH_CALLBACK", f, kpatchfmt.CallbackPrefix + "post_unpatch", "kpg_macros_post_unpatch"},
		{"KPATCH_FORCE_UNSAFE", f, ".kpatch.force", "kpg_macros_show"},
		{"KPATCH_IGNORE_FUNCTION", f, ".kpatch.ignore.functions", "kpg_macros_noisy"},
		{"KPATCH_IGNORE_SECTION", f, ".kpatch.ignore.sections", ".text.kpg_macros_unused"},
		{"KPATCH_IGNORE_STATIC", f, ".kpatch.ignore.statics", "kpg_macros_calls"},
		{"KPATCH_PRE_PATCH_CALLBACK (patch_object)", cb, kpatchfmt.CallbackPrefix + "pre_patch", "kpg_pre_patch"},
		{"KPATCH_POST_PATCH_CALLBACK (patch_object)", cb, kpatchfmt.CallbackPrefix + "post_patch", "kpg_post_patch"},
		{"KPATCH_PRE_UNPATCH_CALLBACK (patch_object)", cb, kpatchfmt.CallbackPrefix + "pre_unpatch", "kpg_pre_unpatch"},
		{"KPATCH_POST_UNPATCH_CALLBACK (patch_object)", cb, kpatchfmt.CallbackPrefix + "post_unpatch", "kpg_post_unpatch"},
	} {
		s := c.obj.SectionByName(c.section)
		if s == nil {
			t.Errorf("%s: no section %s", c.macro, c.section)
			continue
		}
		size := uint64(8)
		if strings.HasPrefix(c.section, kpatchfmt.CallbackPrefix) {
			size = 16 // { fn, objname }, objname NULL until the diff
			if !bytes.Equal(s.Data[8:], make([]byte, 8)) {
				t.Errorf("%s: objname %x, want NULL", c.macro, s.Data[8:])
			}
		}
		if s.Size != size || s.Rela == nil || len(s.Rela.Relocs) != 1 || s.Rela.Relocs[0].Offset != 0 {
			t.Errorf("%s: %s: size %d, relocations %v; want one %d-byte record", c.macro, c.section, s.Size, s.Rela, size)
			continue
		}
		isString := c.section == ".kpatch.ignore.sections" || c.section == ".kpatch.ignore.statics"
		if got := pointee(c.obj, s.Rela.Relocs[0], isString); got != c.target {
			t.Errorf("%s: %s points to %q, want %q", c.macro, c.section, got, c.target)
		}
	}
	// The hooks call the patch's function from a callback.
	for hook, fn := range map[string]string{"__kpatch_load_hook_kpg_macros_load": "kpg_macros_load",
		"__kpatch_unload_hook_kpg_macros_unload": "kpg_macros_unload"} {
		if got := calls(t, f, hook); !slices.Contains(got, fn) {
			t.Errorf("%s calls %v, want %s", hook, got, fn)
		}
	}

	// KPATCH_PRINTK and KPATCH_PRINTK_DEFERRED: the call, behind a test
	// of jiffies, in a .cold part of the function (its own path).
	for fn, want := range map[string]string{"kpg_macros_show": "_printk", "kpg_macros_deferred": "_printk_deferred"} {
		if got := calls(t, f, fn+".cold"); !slices.Contains(got, want) {
			t.Errorf("%s.cold calls %v, want %s", fn, got, want)
		}
		if got := calls(t, f, fn); !slices.Contains(got, "jiffies") {
			t.Errorf("%s refers to %v, want jiffies", fn, got)
		}
	}

	// KPATCH_STATIC_CALL: the key is read and its function called
	// indirectly; only static_call() leaves a static call site.
	const key = "__SCK__pv_steal_clock"
	if got := calls(t, f, "kpg_macros_steal"); !slices.Contains(got, key) || !slices.Contains(got, "__x86_indirect_thunk_rax") {
		t.Errorf("KPATCH_STATIC_CALL: kpg_macros_steal refers to %v, want %s and an indirect call", got, key)
	}
	sites := map[string]bool{}
	if s := f.SectionByName(".static_call_sites"); s != nil && s.Rela != nil {
		for _, r := range s.Rela.Relocs {
			if r.Offset%8 == 0 {
				sites[pointee(f, elfobj.Reloc{Sym: r.Sym, Addend: 0}, false)] = true
			}
		}
	}
	if !sites["kpg_macros_steal_site"] || sites["kpg_macros_steal"] {
		t.Errorf("static call sites in %v, want kpg_macros_steal_site's (static_call) and not kpg_macros_steal's (KPATCH_STATIC_CALL)", sites)
	}

	// KPATCH_SYSCALL_DEFINE1..6: the architecture's entry points, each
	// with an ftrace call site, calling the body as a new function or
	// with it inlined; the kernel's __do_sys_ function is gone.
	// KPATCH_SYSCALL_DEFINE0 is the kernel's own: the entry points are
	// aliases of __do_sys_kpg_zero, which has the ftrace call site.
	metadata := f.SectionByName("__syscalls_metadata")
	if metadata == nil || metadata.Size != 7*8 {
		t.Errorf("__syscalls_metadata: %v, want 7 entries (the kernel's tracing metadata of each system call)", metadata)
	}
	for _, n := range []string{"kpg_one", "kpg_two", "kpg_three", "kpg_four", "kpg_five", "kpg_six"} {
		if s := f.SymbolByName("__do_sys_" + n); s != nil {
			t.Errorf("%s: __do_sys_%s is in the object (%v): it must always be inlined", n, n, s.Section)
		}
		for _, entry := range []string{"__x64_sys_" + n, "__ia32_sys_" + n} {
			s := f.SymbolByName(entry)
			if s == nil || s.Type != elf.STT_FUNC || s.Bind != elf.STB_GLOBAL {
				t.Errorf("%s: no global function %s", n, entry)
				continue
			}
			got := calls(t, f, entry)
			if len(got) == 0 || got[0] != "__fentry__" {
				t.Errorf("%s has no ftrace call site: %v", entry, got)
			}
			if inner := f.SymbolByName("__kpatch_do_sys_" + n); inner != nil && !slices.Contains(got, inner.Name) {
				t.Errorf("%s does not call %s: %v", entry, inner.Name, got)
			}
		}
	}
	// The largest body stays out of line: a new function without an
	// ftrace call site (it is never patched, only called).
	if inner := f.SymbolByName("__kpatch_do_sys_kpg_six"); inner == nil || inner.Type != elf.STT_FUNC || inner.Bind != elf.STB_LOCAL {
		t.Errorf("__kpatch_do_sys_kpg_six: %v, want a local function", inner)
	} else if got := calls(t, f, "__kpatch_do_sys_kpg_six"); len(got) > 0 && got[0] == "__fentry__" {
		t.Errorf("__kpatch_do_sys_kpg_six has an ftrace call site")
	}
	zero := f.SymbolByName("__do_sys_kpg_zero")
	if zero == nil {
		t.Fatalf("no __do_sys_kpg_zero")
	}
	if got := calls(t, f, "__do_sys_kpg_zero"); len(got) == 0 || got[0] != "__fentry__" {
		t.Errorf("__do_sys_kpg_zero has no ftrace call site: %v", got)
	}
	for _, entry := range []string{"__x64_sys_kpg_zero", "__ia32_sys_kpg_zero"} {
		if s := f.SymbolByName(entry); s == nil || s.Section != zero.Section || s.Value != zero.Value {
			t.Errorf("%s: %v, want an alias of __do_sys_kpg_zero", entry, s)
		}
	}
}

// realDiff builds the checked-in orig and patched cmdline.c and diffs them
// against the debug vmlinux, as kpatch-build diff does.
func realDiff(t *testing.T, e realEnv, tmp string) string {
	t.Helper()
	include := writeMacros(t, tmp)
	origPath := compileObject(t, e, filepath.Join("testdata", "kbuild", "orig", "cmdline.c"), filepath.Join(tmp, "orig"), include)
	patchedPath := compileObject(t, e, filepath.Join("testdata", "kbuild", "patched", "cmdline.c"), filepath.Join(tmp, "patched"), include)
	tab, err := symtab.Load(e.vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := symtab.LoadSymvers(filepath.Join(e.build, "Module.symvers"))
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16",
		"ALT_STRUCT_SIZE": "12", "PARA_STRUCT_SIZE": "16", "STATIC_CALL_STRUCT_SIZE": "8", "ORC_STRUCT_SIZE": "6"}
	out := filepath.Join(tmp, "cmdline-diff.o")
	diffFiles(t, origPath, patchedPath, out, tab, sv, sizes)
	return out
}

func modinfo(f *elfobj.File) map[string]string {
	m := map[string]string{}
	if s := f.SectionByName(".modinfo"); s != nil {
		for _, kv := range bytes.Split(s.Data, []byte{0}) {
			if k, v, ok := strings.Cut(string(kv), "="); ok {
				m[k] = v
			}
		}
	}
	return m
}

// TestBuildKbuild builds a real live-patch module for the Debian kernel:
// real gcc-12 objects from checked-in sources, diffed against the debug
// vmlinux, linked by the installed headers' kbuild. (Loading it under qemu
// is the pipeline's real-kernel test.)
func TestBuildKbuild(t *testing.T) {
	e := needReal(t, true)
	tmp := t.TempDir()
	diff := realDiff(t, e, tmp)
	ko := filepath.Join(tmp, "out", "livepatch-kbuild-test.ko")
	if err := os.MkdirAll(filepath.Dir(ko), 0o755); err != nil {
		t.Fatal(err)
	}
	var log []string
	err := module.BuildKbuild(context.Background(), module.KbuildOptions{Name: "livepatch-kbuild-test", TreeDir: e.build,
		Objects: []string{diff}, Release: e.kver, CC: "gcc-12", Jobs: 2, WorkDir: filepath.Join(tmp, "mod"), Output: ko,
		Log: func(f string, a ...any) { log = append(log, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 {
		t.Errorf("no progress logged")
	}
	f, err := elfobj.Open(ko)
	if err != nil {
		t.Fatal(err)
	}

	// Modinfo: a live patch, with the vermagic of the kernel's own modules.
	mi := modinfo(f)
	xfs, err := elfobj.Open(filepath.Join("/lib/modules", e.kver, "kernel", "fs", "xfs", "xfs.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if want := modinfo(xfs)["vermagic"]; mi["vermagic"] != want || want == "" {
		t.Errorf("vermagic %q, the kernel's modules have %q", mi["vermagic"], want)
	}
	if mi["livepatch"] != "Y" || mi["name"] != "livepatch_kbuild_test" || mi["license"] != "GPL" {
		t.Errorf("modinfo %v", mi)
	}

	// The klp tables became livepatch relocations; the symbols they
	// replaced are gone from the symbol table.
	for _, n := range []string{kpatchfmt.RelocationsSection, kpatchfmt.SymbolsSection, ".rela" + kpatchfmt.RelocationsSection, ".rela" + kpatchfmt.SymbolsSection} {
		if f.SectionByName(n) != nil {
			t.Errorf("intermediate section %s left in the module", n)
		}
	}
	for _, s := range f.Symbols {
		if s.Name == "saved_command_line" {
			t.Errorf("symbol saved_command_line left in the module (section %v, shndx %v)", s.Section, s.Shndx)
		}
	}
	if f.SymbolByName(".klp.sym.vmlinux.saved_command_line,0") == nil {
		t.Errorf("no klp symbol for saved_command_line")
	}
	for _, n := range []string{"__kpatch_funcs", "__kpatch_funcs_end", "__kpatch_callbacks_pre_patch", "init_module", "cleanup_module"} {
		if f.SymbolByName(n) == nil {
			t.Errorf("module has no %s", n)
		}
	}

	l := module.Inspect(f)
	if len(l.Problems) > 0 {
		t.Errorf("inspect: %v", l.Problems)
	}
	testutil.Golden(t, filepath.Join("testdata", "kbuild", "cmdline.listing.golden"), testutil.NormalizeKernel(l.String(), e.kver))

	// readelf finds nothing wrong with the ELF or its DWARF.
	if _, err := exec.LookPath("readelf"); err == nil {
		cmd := exec.Command("readelf", "-a", "--debug-dump=info,abbrev,line,str,frames", ko)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("readelf: %v\n%s", err, tail(stderr.String()))
		}
	}

	// -R, in the same work directory: the hook is built without atomic
	// replace.
	ko2 := filepath.Join(tmp, "out", "livepatch-kbuild-test-r.ko")
	err = module.BuildKbuild(context.Background(), module.KbuildOptions{Name: "livepatch-kbuild-test-r", TreeDir: e.build,
		Objects: []string{diff}, Release: e.kver, CC: "gcc-12", NonReplace: true, Jobs: 2,
		WorkDir: filepath.Join(tmp, "mod"), Output: ko2})
	if err != nil {
		t.Fatal(err)
	}
	cmdFile, err := os.ReadFile(filepath.Join(tmp, "mod", ".patch-hook.o.cmd"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cmdFile, []byte("-DKLP_REPLACE_ENABLE=false")) {
		t.Errorf("NonReplace: patch-hook.o was not compiled with -DKLP_REPLACE_ENABLE=false")
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// TestBuildKbuildRefuses checks the clear errors for a tree that is not
// prepared, the wrong release, an object that is not ELF, a work
// directory that is not BuildKbuild's and a failed link (its error first,
// the whole output in the log); none leaves an output behind.
func TestBuildKbuildRefuses(t *testing.T) {
	tmp := t.TempDir()
	obj := filepath.Join(tmp, "x.o")
	if err := os.WriteFile(obj, []byte("not an object"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out.ko")
	// A release that is never installed: the first cases fail before it
	// matters; the installed headers' cases use the installed one.
	release := "6.1.0-99-test"
	var build string
	if k, err := testutil.FindDebianKernel(); err == nil {
		release, build = k.Release, k.Build
	} else if testutil.InCI() {
		t.Fatalf("CI=true but %v", err)
	}
	base := module.KbuildOptions{Name: "livepatch-x", TreeDir: tmp, Objects: []string{obj}, Release: release,
		CC: "gcc-12", WorkDir: filepath.Join(tmp, "work"), Output: out}
	type refusal struct {
		name string
		edit func(o *module.KbuildOptions)
		want string
	}
	cases := []refusal{
		{"unprepared tree", func(o *module.KbuildOptions) {}, "is not prepared"},
		{"no objects", func(o *module.KbuildOptions) { o.Objects = nil }, "no objects"},
		{"bad name", func(o *module.KbuildOptions) { o.Name = "live patch" }, "bad module name"},
	}
	// With the installed headers: a release mismatch, and an object that
	// is not ELF.
	if _, err := os.Stat(filepath.Join(build, "include", "generated", "utsrelease.h")); err == nil {
		cases = append(cases,
			refusal{"wrong release", func(o *module.KbuildOptions) { o.TreeDir = build; o.Release = "6.1.0-98-test" }, `prepared for release "` + release + `", not "6.1.0-98-test"`},
			refusal{"not an object", func(o *module.KbuildOptions) { o.TreeDir = build }, obj},
			refusal{"foreign work directory", func(o *module.KbuildOptions) { o.TreeDir = build; o.WorkDir = tmp }, "not emptying it"})
		// An object of another machine: kbuild's link fails, and the
		// error starts with the linker's error and names the
		// log of the whole output.
		foreign, err := os.ReadFile(filepath.Join("..", "testdata", "diffcases", "no-change", "orig.o"))
		if err != nil {
			t.Fatal(err)
		}
		foreign[18], foreign[19] = byte(elf.EM_AARCH64), 0
		foreignObj := filepath.Join(tmp, "foreign.o")
		if err := os.WriteFile(foreignObj, foreign, 0o644); err != nil {
			t.Fatal(err)
		}
		failLog := filepath.Join(tmp, "logs", "livepatch-x.log")
		cases = append(cases, refusal{"link fails", func(o *module.KbuildOptions) {
			o.TreeDir, o.Objects, o.FailLog = build, []string{foreignObj}, failLog
		}, "error adding symbols: file in wrong format"})
		defer func() {
			if b, err := os.ReadFile(failLog); err != nil || !strings.Contains(string(b), "Relocations in generic ELF (EM: 183)") {
				t.Errorf("the log %s of the failed link: %v\n%s", failLog, err, b)
			}
		}()
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			err := module.BuildKbuild(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if first, _, _ := strings.Cut(err.Error(), "\n"); o.FailLog != "" && !strings.Contains(first, c.want) {
				t.Errorf("first line %q, want the linker's error", first)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output written after an error")
			}
		})
	}
}
