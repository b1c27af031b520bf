package elfdiff

import (
	"debug/elf"
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/refusal"
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

func (d *differ) includeCallbacks() {
	for _, name := range kpatchfmt.CallbackSections {
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
				d.includeSymbol(fn, "callback ("+strings.TrimPrefix(name, kpatchfmt.CallbackPrefix)+")")
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

// includeDebug includes every debug section whole (DWARF is not split
// per function). Which of their relocations stay is decided by
// keepDebugRelocs, once everything else is included.
func (d *differ) includeDebug() {
	for _, s := range d.patched.secs {
		if !s.isDebug() {
			continue
		}
		s.include, s.why = true, "debug information"
		if s.secsym != nil {
			s.secsym.include = true
		}
	}
}

// keepDebugRelocs keeps the relocations of the debug sections whose
// target is in the output: the other debug sections (names in .debug_str,
// abbreviations, line tables, ...) and the included code and data; one to
// a symbol the output leaves out, in an included section, goes through
// that section's symbol. It
// runs after every section is included, special sections too, and before
// the output is built, so no debug relocation is left dangling and none
// that the output can resolve is lost.
//
// A relocation to code or data left out of the output is dropped, and its
// field keeps the value a linker gives a reference into a discarded
// section (the "tombstone"): 0, which DWARF consumers read as "not
// present"; but 1 in the DWARF 4 range and location lists (.debug_ranges,
// .debug_loc), where a 0,0 pair would end the list early and hide the
// entries of the included functions that follow it.
func (d *differ) keepDebugRelocs() {
	for _, s := range d.patched.secs {
		if !s.include || !s.isRela() || !s.isDebug() || s.base == nil {
			continue
		}
		kept := s.relas[:0]
		var tomb []*rela
		for _, r := range s.relas {
			sym := r.sym
			if sym.sec == nil || !sym.sec.include {
				tomb = append(tomb, r)
				continue
			}
			if sym.strip {
				// A helper symbol the output leaves out (a
				// KPATCH_FORCE_UNSAFE marker, a callback's record):
				// the same place through its section's symbol.
				ss := sym.sec.secsym
				if ss == nil || ss.strip {
					tomb = append(tomb, r)
					continue
				}
				r.sym, r.addend = ss, r.addend+int64(sym.Value)
				sym = ss
			}
			kept = append(kept, r)
			sym.include = true
		}
		s.relas = kept
		// (A compressed section, -gz, cannot be written in place; its
		// dropped relocations leave 0.)
		if base := s.base.Name; len(tomb) > 0 && (base == ".debug_ranges" || base == ".debug_loc") && s.base.Flags&elf.SHF_COMPRESSED == 0 {
			d.writeTombstones(s.base, tomb)
		}
	}
}

// writeTombstones writes 1 into the 64-bit address fields of sec that the
// dropped relocations rs pointed at (a copy of the data: the input object
// stays as it was read).
func (d *differ) writeTombstones(sec *section, rs []*rela) {
	data := append([]byte(nil), sec.Data...)
	bo := kpatchfmt.ByteOrder(d.patched.file.Data)
	abs := d.arch.Abs64
	for _, r := range rs {
		if r.typ == abs && len(data) >= 8 && r.off <= uint64(len(data)-8) {
			bo.PutUint64(data[r.off:], 1)
		}
	}
	sec.Data = data
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
	var first *refusal.Error
	note := func(e *refusal.Error) {
		errs++
		if first == nil {
			first = e
		}
		d.logf("%s", e.Msg)
	}
	for _, s := range d.patched.secs {
		if s.status == Changed && !s.include && !s.ignore {
			if !(s.isRela() && s.base != nil && s.base.include) {
				note(d.refuse(keyNotSelected(s.Name), s.Name, s.Name))
			}
		}
		if s.status != Same && s.grouped && s.include {
			note(d.refuse(refusal.GroupMember, s.Name, s.Name))
		}
		if s.Type == elf.SHT_GROUP && s.status == New {
			note(d.refuse(refusal.NewGroup, s.Name))
		}
		if s.include && s.status != New && (strings.HasPrefix(s.Name, ".data") || strings.HasPrefix(s.Name, ".bss")) && !isOnceData(s.Name) {
			note(d.refuse(refusal.DataSection, s.Name, s.Name))
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

// keyNotSelected is the refusal of changed section n that no changed
// function needs, chosen by what the section holds.
func keyNotSelected(n string) refusal.Key {
	switch {
	case strings.HasPrefix(n, ".init") || strings.HasPrefix(n, ".rela.init"):
		return refusal.InitChanged
	case strings.HasPrefix(n, ".data") || strings.HasPrefix(n, ".bss") || strings.HasPrefix(n, ".rela.data"):
		return refusal.DataChanged
	}
	return refusal.NotSelected
}
