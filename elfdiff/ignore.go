package elfdiff

import (
	"bytes"
	"debug/elf"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// importNamespaces returns the import_ns= records of a .modinfo section's
// data, in the form a module carries them ("import_ns=NS"). A .modinfo
// entry is "KEY=VALUE" in an object built as a module, and
// "MODNAME.KEY=VALUE" in an object built into vmlinux (kbuild prefixes
// the key with KBUILD_MODNAME there); the livepatch module is a module,
// so the prefix is dropped.
func importNamespaces(data []byte) []string {
	var out []string
	for _, f := range bytes.Split(data, []byte{0}) {
		key, value, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		if i := bytes.LastIndexByte(key, '.'); i >= 0 {
			key = key[i+1:]
		}
		if string(key) == "import_ns" {
			out = append(out, "import_ns="+string(value))
		}
	}
	return out
}

// markIgnoredSections flags sections that are never part of a patch and
// applies KPATCH_IGNORE_SECTION markers.
func (d *differ) markIgnoredSections() error {
	for _, s := range d.patched.secs {
		n := s.Name
		switch {
		case strings.HasPrefix(n, ".discard"), strings.HasPrefix(n, ".rela.discard"),
			strings.HasPrefix(n, ".llvm_addrsig"), strings.HasPrefix(n, ".llvm."):
			s.ignore = true
		case n == ".modinfo":
			d.importNS = append(d.importNS, importNamespaces(s.Data)...)
			s.ignore = true
		case slices.Contains(d.arch.IgnoredSections, n):
			s.ignore = true
		}
	}
	rs := d.patched.section(".rela.kpatch.ignore.sections")
	if rs == nil {
		return nil
	}
	for _, r := range rs.relas {
		if !r.hasStr {
			return d.refuse(refusal.IgnoreSectionEntry, ".kpatch.ignore.sections", r.off)
		}
		strsec := r.sym.sec
		strsec.status = Changed
		d.includeSection(strsec, "string of KPATCH_IGNORE_SECTION")
		target := d.patched.section(r.str)
		if target == nil {
			return d.refuse(refusal.IgnoreSectionMissing, r.str, r.str)
		}
		if target.isRela() && target.base != nil {
			target = target.base
		}
		d.logf("ignoring section: %s", target.Name)
		target.ignore = true
		if target.twin != nil {
			target.twin.ignore = true
		}
	}
	return nil
}

// ignoreStaticsSection holds the KPATCH_IGNORE_STATIC records: pointers to
// the names of static local variables the patched functions may stop using.
const ignoreStaticsSection = ".kpatch.ignore.statics"

// readIgnoredStatics reads the KPATCH_IGNORE_STATIC records of the patched
// object. Each points to a string, the variable's name as the source
// writes it ("last"; gcc's number suffix, "last.0", is accepted too).
func (d *differ) readIgnoredStatics() error {
	rs := d.patched.section(".rela" + ignoreStaticsSection)
	if rs == nil {
		return nil
	}
	d.ignoredStatics = map[string]bool{}
	for _, r := range rs.relas {
		if !r.hasStr {
			return d.refuse(refusal.IgnoreStaticEntry, ignoreStaticsSection, r.off)
		}
		d.ignoredStatics[staticBaseName(r.str)] = true
	}
	if s := d.patched.section(ignoreStaticsSection); s != nil {
		s.ignore = true
	}
	return nil
}

// staticBaseName is a static local's name without gcc's ".N" suffix.
func staticBaseName(name string) string {
	base, _, _ := strings.Cut(name, ".")
	return base
}

// staticIgnored reports whether the static local o, whose use by owner
// the patch removes, is named by KPATCH_IGNORE_STATIC; it logs it.
func (d *differ) staticIgnored(o *symbol, owner string) bool {
	if !d.ignoredStatics[staticBaseName(o.Name)] {
		return false
	}
	d.logf("ignoring static local variable %s no longer used by %s (KPATCH_IGNORE_STATIC)", o.Name, owner)
	return true
}

// markIgnoredFunctionsSame applies KPATCH_IGNORE_FUNCTION markers.
func (d *differ) markIgnoredFunctionsSame() error {
	rs := d.patched.section(".rela.kpatch.ignore.functions")
	if rs == nil {
		return nil
	}
	for _, r := range rs.relas {
		f := r.sym
		if !f.isFunc() {
			return d.refuse(refusal.IgnoreFunctionType, f.Name, f.Name)
		}
		if f.sec == nil || f.sec.bundled != f {
			return d.refuse(refusal.IgnoreFunctionBundle, f.Name, f.Name)
		}
		d.logf("ignoring function: %s", f.Name)
		if f.status != Changed {
			d.logf("NOTICE: no change detected in function %s, unnecessary KPATCH_IGNORE_FUNCTION()?", f.Name)
		}
		setFuncSame(f)
	}
	for _, s := range d.patched.syms {
		if strings.HasPrefix(s.Name, "__kpatch_ignore_func_") || (s.sec != nil && s.sec.Name == ".kpatch.ignore.functions" && s.Type != elf.STT_SECTION) {
			s.status = Same
		}
	}
	return nil
}

func setFuncSame(f *symbol) {
	f.status = Same
	if f.sec != nil {
		f.sec.status = Same
		if f.sec.secsym != nil {
			f.sec.secsym.status = Same
		}
		if f.sec.rela != nil {
			f.sec.rela.status = Same
		}
	}
	for _, c := range f.children {
		setFuncSame(c)
	}
}

// markIgnoredSectionsSame makes ignored sections and what they hold SAME.
func (d *differ) markIgnoredSectionsSame() {
	for _, s := range d.patched.secs {
		if !s.ignore {
			continue
		}
		s.status = Same
		if s.secsym != nil {
			s.secsym.status = Same
		}
		if s.rela != nil {
			s.rela.status = Same
		}
		for _, sym := range d.patched.bySec[s] {
			sym.status = Same
		}
	}
	for _, s := range d.patched.syms {
		if strings.HasPrefix(s.Name, "__UNIQUE_ID_kpatch_ignore_section_") || strings.HasPrefix(s.Name, "__UNIQUE_ID_kpatch_ignore_static_") {
			s.status = Same
		}
	}
}

// checkProfiling refuses changed functions that have no ftrace call site
// in the running kernel, since nothing could redirect them.
func (d *differ) checkProfiling() error {
	var bad []string
	for _, s := range d.patched.syms {
		if !s.isFunc() || s.status != Changed || s.isPfx {
			continue
		}
		if s.parent != nil && s.parent.status == Changed {
			continue
		}
		if s.twin == nil || !s.twin.hasFentry {
			d.logf("function %s doesn't have patchable function entry, unable to patch", s.Name)
			bad = append(bad, s.Name)
		}
	}
	if len(bad) > 0 {
		return d.refuse(refusal.NoFentry, strings.Join(bad, ", "), len(bad))
	}
	return nil
}
