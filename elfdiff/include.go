package elfdiff

import (
	"debug/elf"
	"fmt"
	"strings"
)

// owner names the function or section a section's relocations belong to,
// for "referenced by" explanations.
func owner(s *section) string {
	if s.isRela() && s.base != nil {
		s = s.base
	}
	if s.bundled != nil {
		return s.bundled.Name
	}
	return s.Name
}

// includeSection puts s, its section symbol and its relocations in the
// output, and recursively what the relocations reference.
func (d *differ) includeSection(s *section, why string) {
	if s.include {
		return
	}
	s.include = true
	s.why = why
	if s.secsym != nil && !s.secsym.include {
		s.secsym.include = true
		s.secsym.why = why
	}
	if s.rela == nil {
		return
	}
	s.rela.include = true
	s.rela.why = why
	by := "referenced by " + owner(s)
	for _, r := range s.rela.relas {
		d.includeSymbol(r.sym, by)
	}
}

// includeSymbol puts sym in the output. Its section comes along only when
// it is a section symbol or the symbol is new or changed; an unchanged
// symbol is referenced, not copied, and resolved against the running
// kernel later.
func (d *differ) includeSymbol(sym *symbol, why string) {
	if sym.include {
		return
	}
	sym.include = true
	sym.why = why
	if sym.sec != nil && (sym.Type == elf.STT_SECTION || sym.status != Same) {
		d.includeSection(sym.sec, why)
	}
}

func (d *differ) includeStandard() {
	for _, s := range d.patched.secs {
		n := s.Name
		if n == ".shstrtab" || n == ".strtab" || n == ".symtab" || n == ".symtab_shndx" || n == ".toc" || n == ".rodata" ||
			isStringLiteralName(n) {
			d.includeSection(s, "standard section")
		}
	}
	for _, sym := range d.patched.syms {
		if sym.sec != nil && isStringLiteralName(sym.sec.Name) {
			d.includeSymbol(sym, "string literal")
		}
	}
	d.patched.syms[0].include = true
}

func (d *differ) includeChanged() {
	for _, sym := range d.patched.syms {
		if sym.status == Changed && sym.isFunc() {
			d.numChanged++
			d.includeSymbol(sym, "changed")
			if sym.pfx != nil {
				d.includeSymbol(sym.pfx, "prefix of "+sym.Name)
			}
		}
		if sym.Type == elf.STT_FILE {
			sym.include = true
			sym.why = "file"
		}
	}
}

var callbackSections = []string{".kpatch.callbacks.pre_patch", ".kpatch.callbacks.post_patch",
	".kpatch.callbacks.pre_unpatch", ".kpatch.callbacks.post_unpatch"}

func (d *differ) includeCallbacks() {
	for _, name := range callbackSections {
		s := d.patched.section(name)
		if s == nil {
			continue
		}
		d.hasCallbacks = true
		s.include, s.why = true, "callback section"
		if s.secsym != nil {
			s.secsym.include = true
		}
		if s.rela != nil {
			s.rela.include, s.rela.why = true, "callback section"
			if len(s.rela.relas) > 0 {
				fn := s.rela.relas[0].sym
				d.logf("found callback: %s", fn.Name)
				d.includeSymbol(fn, "callback ("+strings.TrimPrefix(name, ".kpatch.callbacks.")+")")
				d.callbacks = append(d.callbacks, callback{sec: name, fn: fn})
			}
		}
		for _, sym := range d.patched.bySec[s] {
			if sym.Type == elf.STT_OBJECT {
				sym.strip = true
			}
		}
	}
	if s := d.patched.section(".kpatch.force"); s != nil {
		s.include, s.why = true, "force marker"
		if s.secsym != nil {
			s.secsym.include = true
		}
		if s.rela != nil {
			s.rela.include = true
			for _, r := range s.rela.relas {
				d.logf("function '%s' marked with KPATCH_FORCE_UNSAFE!", r.sym.Name)
				d.includeSymbol(r.sym, "KPATCH_FORCE_UNSAFE")
			}
		}
		for _, sym := range d.patched.bySec[s] {
			if sym.Type == elf.STT_OBJECT {
				sym.strip = true
			}
		}
	}
}

func (d *differ) includeNewGlobals() {
	for _, sym := range d.patched.syms {
		if sym.Bind == elf.STB_GLOBAL && sym.sec != nil && sym.status == New {
			d.includeSymbol(sym, "new global")
			d.newGlobals++
		}
	}
}

func (d *differ) includeDebug() {
	// All debug sections first: a .rela.debug_info comes before the
	// .debug_str, .debug_abbrev and .debug_line its relocations point to.
	for _, s := range d.patched.secs {
		if !s.isDebug() {
			continue
		}
		s.include, s.why = true, "debug information"
		if s.secsym != nil {
			s.secsym.include = true
		}
	}
	for _, s := range d.patched.secs {
		if !s.isDebug() || !s.isRela() {
			continue
		}
		kept := s.relas[:0]
		for _, r := range s.relas {
			if r.sym.sec != nil && r.sym.sec.include {
				kept = append(kept, r)
				r.sym.include = true
			}
		}
		s.relas = kept
	}
}

// printChanges records the changed and new functions in symbol-table order.
func (d *differ) printChanges() {
	for _, sym := range d.patched.syms {
		if !sym.include || !sym.isFunc() || sym.sec == nil || sym.parent != nil || sym.isPfx {
			continue
		}
		switch sym.status {
		case New:
			d.logf("new function: %s", sym.Name)
			d.report.addChange("new", sym.Name)
		case Changed:
			d.logf("changed function: %s", sym.Name)
			d.report.addChange("changed", sym.Name)
		}
	}
}

func isOnceData(n string) bool {
	switch n {
	case ".data.unlikely", ".data..unlikely", ".data.once", ".data..once":
		return true
	}
	return false
}

// verifyPatchability refuses changes the output cannot carry.
func (d *differ) verifyPatchability() error {
	errs := 0
	var first *Error
	note := func(e *Error) {
		errs++
		if first == nil {
			first = e
		}
		d.logf("%s", e.Msg)
	}
	for _, s := range d.patched.secs {
		if s.status == Changed && !s.include && !s.ignore {
			if !(s.isRela() && s.base != nil && s.base.include) {
				note(d.fatalf(s.Name, hintNotSelected(s.Name), "changed section %s not selected for inclusion", s.Name))
			}
		}
		if s.status != Same && s.grouped && s.include {
			note(d.fatalf(s.Name, "", "changed section %s is part of a section group", s.Name))
		}
		if s.Type == elf.SHT_GROUP && s.status == New {
			note(d.fatalf(s.Name, "", "new/changed group sections are not supported"))
		}
		if s.include && s.status != New && (strings.HasPrefix(s.Name, ".data") || strings.HasPrefix(s.Name, ".bss")) && !isOnceData(s.Name) {
			note(d.fatalf(s.Name, "a live patch cannot change or add data in an existing data section; use a shadow variable (klp_shadow_alloc) or a new static inside the patched function",
				"data section %s selected for inclusion", s.Name))
		}
	}
	if errs > 0 {
		if errs == 1 {
			return first
		}
		first.Msg += fmt.Sprintf("; %d unsupported section change(s)", errs)
		return first
	}
	return nil
}

func hintNotSelected(n string) string {
	switch {
	case strings.HasPrefix(n, ".init") || strings.HasPrefix(n, ".rela.init"):
		return "init code has already run (Linux frees it after boot); a change to an __init function cannot be live patched (use KPATCH_IGNORE_SECTION if the change is harmless)"
	case strings.HasPrefix(n, ".data") || strings.HasPrefix(n, ".bss") || strings.HasPrefix(n, ".rela.data"):
		return "changed initial values of existing data are not applied to the running kernel; change the data at patch time in a callback, or use a shadow variable"
	}
	return "no changed function uses this section; if the change is intended, make a patched function reference it"
}
