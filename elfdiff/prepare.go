package elfdiff

import (
	"debug/elf"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// prepare runs the per-object steps that precede correlation: prefix
// symbols, relocation strings, fentry detection, bundling and children.
func (d *differ) prepare(o *object) error {
	if d.arch.FoldLocalLabels {
		foldLocalLabels(o)
	}
	if err := d.linkPrefixes(o); err != nil {
		return err
	}
	if err := d.relaStrings(o); err != nil {
		return err
	}
	if d.ppc64() {
		if err := d.ppcPrepare(o); err != nil {
			return err
		}
		d.ppcFindProfiling(o)
	} else if d.arch.Entry.Kind == relocs.EntryPatchable {
		d.findPatchableEntries(o)
	} else {
		d.findProfiling(o)
	}
	if err := d.bundle(o); err != nil {
		return err
	}
	return d.detectChildren(o)
}

// linkPrefixes ties __pfx_/__cfi_ padding symbols to the functions they
// precede.
func (d *differ) linkPrefixes(o *object) error {
	for _, pfx := range o.syms {
		if !pfx.isFunc() || pfx.sec == nil || !slices.ContainsFunc(d.arch.PrefixSymbols, func(p string) bool { return strings.HasPrefix(pfx.Name, p) }) {
			continue
		}
		found := false
		for _, f := range o.bySec[pfx.sec] {
			if f.isFunc() && f != pfx && f.Value == pfx.Value+pfx.Size {
				f.pfx = pfx
				found = true
			}
		}
		if !found {
			return d.refuse(refusal.PrefixFunction, pfx.Name, pfx.Name)
		}
		pfx.isPfx = true
	}
	return nil
}

// relaStrings records, for every relocation into a string section, the
// string it designates, so string literals compare by content.
func (d *differ) relaStrings(o *object) error {
	for _, rs := range o.secs {
		if !rs.isRela() || rs.base == nil || rs.isDebug() {
			continue
		}
		for _, r := range rs.relas {
			ts := r.sym.sec
			if ts == nil || !ts.isString() {
				continue
			}
			off, err := d.targetOffset(rs.base, r)
			if err != nil {
				return err
			}
			start := int64(r.sym.Value) + off
			if start < 0 || start >= int64(len(ts.Data)) {
				continue
			}
			b := ts.Data[start:]
			end := 0
			for end < len(b) && b[end] != 0 {
				end++
			}
			r.str, r.hasStr = string(b[:end]), true
		}
	}
	return nil
}

// targetOffset is the offset within the relocation's symbol that it
// designates (see relocs.Arch.TargetOffset).
func (d *differ) targetOffset(base *section, r *rela) (int64, error) {
	in, err := base.text(d.arch)
	if err != nil {
		return 0, d.refuse(refusal.TextSection, base.Name, base.Name, err)
	}
	off, err := d.arch.TargetOffset(in, r.typ, r.off, r.addend)
	if err != nil {
		return 0, d.refuse(refusal.TargetOffset, base.Name, base.Name, r.off, err)
	}
	return off, nil
}

// findProfiling marks the functions that start with an ftrace call site
// (on x86-64, call __fentry__ recorded by -mfentry).
func (d *differ) findProfiling(o *object) {
	for _, sym := range o.syms {
		if sym.isFunc() && sym.sec != nil && !sym.isPfx && d.arch.EntryNop(sym.sec.Data, sym.Value) {
			sym.hasFentry = true
			continue
		}
		if !sym.isFunc() || sym.sec == nil || sym.isPfx || sym.sec.rela == nil {
			continue
		}
		rs := sym.sec.rela.relas
		if len(rs) == 0 {
			continue
		}
		r := rs[0]
		if d.arch.IsEntryCall(r.typ, r.sym.Name) {
			sym.hasFentry = true
		}
	}
}

var funcSectionPrefixes = []string{".text.", ".text.hot.", ".text.unlikely."}
var objectSectionPrefixes = []string{".data.", ".data.rel.", ".data.rel.ro.", ".data.rel.ro.local.", ".data.rel.local.", ".rodata.", ".bss."}

// bundledName reports whether sec is the per-symbol section of sym
// (-ffunction-sections / -fdata-sections naming).
func bundledName(sym *symbol) bool {
	n := sym.sec.Name
	switch sym.Type {
	case elf.STT_FUNC:
		for _, p := range funcSectionPrefixes {
			if strings.HasPrefix(n, p) && n[len(p):] == sym.Name {
				return true
			}
		}
		if i := strings.Index(sym.Name, ".cold"); i > 0 {
			for _, p := range funcSectionPrefixes {
				if strings.HasPrefix(n, p) && n[len(p):] == sym.Name[:i] {
					return true
				}
			}
		}
	case elf.STT_OBJECT:
		for _, p := range objectSectionPrefixes {
			if strings.HasPrefix(n, p) && n[len(p):] == sym.Name {
				return true
			}
		}
	}
	return false
}

func (d *differ) bundle(o *object) error {
	for _, sym := range o.syms {
		if sym.sec == nil || sym.Type == elf.STT_SECTION || !bundledName(sym) {
			continue
		}
		want := uint64(0)
		if sym.pfx != nil {
			want = sym.pfx.Size
		}
		if sym.localEntry {
			want = sym.Value
		}
		// Function padding without its prefix symbol yet (CALL_PADDING
		// with objtool run at link time): the NOPs before the symbol
		// are the function's.
		if sym.pfx == nil && sym.Type == elf.STT_FUNC && sym.Value > 0 && sym.Value <= uint64(len(sym.sec.Data)) && d.arch.Padding(sym.sec.Data[:sym.Value]) {
			want = sym.Value
			sym.padding = sym.Value
		}
		// Patchable-entry NOPs before the symbol (arm64 CALL_OPS, ppc64le
		// global entry) start where the symbol would otherwise.
		if d.arch.Entry.Kind == relocs.EntryPatchable && sym.hasFentry && sym.entrySite < sym.Value {
			want += sym.Value - sym.entrySite
		}
		if sym.Value != want {
			// A .cold child sharing its parent's unlikely section is
			// not that section's symbol.
			if strings.Contains(sym.Name, ".cold") {
				continue
			}
			return d.refuse(refusal.SymbolOffset, sym.Name, sym.Name, sym.Value, sym.sec.Name, want)
		}
		if sym.sec.bundled == nil {
			sym.sec.bundled = sym
		}
	}
	return nil
}

func (d *differ) detectChildren(o *object) error {
	byName := make(map[string]*symbol, len(o.syms))
	for _, sym := range o.syms {
		if sym.isFunc() {
			if _, ok := byName[sym.Name]; !ok {
				byName[sym.Name] = sym
			}
		}
	}
	for _, sym := range o.syms {
		if !sym.isFunc() {
			continue
		}
		if i := strings.Index(sym.Name, ".cold"); i > 0 {
			p := byName[sym.Name[:i]]
			if p == nil {
				return d.refuse(refusal.ParentFunction, sym.Name, sym.Name)
			}
			sym.parent = p
			p.children = append(p.children, sym)
		} else if i := strings.Index(sym.Name, ".part."); i > 0 {
			if p := byName[sym.Name[:i]]; p != nil {
				sym.parent = p
				p.children = append(p.children, sym)
			}
		}
	}
	return nil
}

// replaceSectionSymbols rewrites relocations against section symbols to
// the object or function symbol that contains the designated byte, so that
// relocations compare across builds and link against the running kernel.
func (d *differ) replaceSectionSymbols(o *object) error {
	found := false
	for _, rs := range o.secs {
		if !rs.isRela() || rs.base == nil || rs.isDebug() || rs.base.Name == "__patchable_function_entries" {
			continue
		}
		for _, r := range rs.relas {
			if r.sym.Type != elf.STT_SECTION || r.sym.sec == nil {
				continue
			}
			ts := r.sym.sec
			if skipReplacement(ts.Name) {
				continue
			}
			if b := ts.bundled; b != nil {
				r.sym = b
				r.addend -= int64(b.Value)
				found = true
				continue
			}
			toff, err := d.targetOffset(rs.base, r)
			if err != nil {
				return err
			}
			var repl *symbol
			for _, s := range o.bySec[ts] {
				if s.Type == elf.STT_SECTION || s.Type == elf.STT_FILE {
					continue
				}
				start, end := int64(s.Value), int64(s.Value+s.Size)
				if toff >= start && toff < end {
					repl = s
					break
				}
				if s.Size == 0 && toff == start && !d.arch.IsMapping(s.Name) {
					repl = s
					break
				}
				if t, _ := d.arch.Type(r.typ); rs.base.isText() && t.SectionRef && r.addend == int64(ts.Size) && end == int64(ts.Size) {
					repl = s
					break
				}
			}
			if repl != nil {
				r.sym = repl
				r.addend -= int64(repl.Value)
				found = true
				continue
			}
			if !found && !ts.isString() && !strings.HasPrefix(ts.Name, ".rodata") && !isClangUnnamed(ts.Name) {
				return d.refuse(refusal.ReplacementSymbol, rs.base.Name, rs.base.Name, r.off, ts.Name, toff)
			}
		}
	}
	return nil
}

func skipReplacement(n string) bool {
	switch n {
	case ".toc", ".fixup", ".altinstr_replacement", ".altinstr_aux", ".text..refcount":
		return true
	}
	return strings.HasPrefix(n, "__ftr_alt_") || isUBSAN(n)
}

func isUBSAN(n string) bool {
	return strings.HasPrefix(n, ".data..Lubsan") || strings.HasPrefix(n, ".data.rel.local..Lubsan") ||
		strings.HasPrefix(n, ".Lubsan") || strings.HasPrefix(n, ".rela.data..Lubsan") ||
		strings.HasPrefix(n, ".rela.data.rel.local..Lubsan")
}

func isClangUnnamed(n string) bool {
	return strings.HasPrefix(n, ".data..L__unnamed_") || strings.HasPrefix(n, ".data.__unnamed_") ||
		strings.HasPrefix(n, ".rela.data..L__unnamed_") || strings.HasPrefix(n, ".rela.data.__unnamed_")
}

// isSpecialStatic reports whether sym is a compiler- or macro-generated
// static (lockdep keys, WARN_ONCE flags, ratelimit state, switch tables,
// printk index entries, dynamic debug descriptors) that is never
// correlated: the patched code gets its own fresh copy.
func isSpecialStatic(sym *symbol) bool {
	if sym == nil {
		return false
	}
	if sym.specialKnown {
		return sym.special
	}
	sym.special, sym.specialKnown = computeSpecialStatic(sym), true
	return sym.special
}

func computeSpecialStatic(sym *symbol) bool {
	if sym.sec != nil && (sym.sec.Name == "__verbose" || sym.sec.Name == "__dyndbg" || isClangUnnamed(sym.sec.Name)) {
		return true
	}
	if sym.Type == elf.STT_SECTION {
		if sym.sec == nil || sym.sec.bundled == nil {
			return false
		}
		sym = sym.sec.bundled
	}
	if sym.Type != elf.STT_OBJECT || sym.Bind != elf.STB_LOCAL {
		return false
	}
	if sym.sec != nil && (sym.sec.Name == ".data.once" || sym.sec.Name == ".data..once") {
		return true
	}
	for _, v := range specialStaticNames {
		if strings.HasPrefix(sym.Name, v+".") || strings.Contains(sym.Name, "."+v) {
			return true
		}
	}
	return false
}

// specialStaticNames are the variable names of special statics. The
// reference spells "__already_done." with its own trailing dot, which makes
// the name test never match gcc's __already_done.N; those variables are
// special only through their .data.once section. Kept for parity.
var specialStaticNames = []string{"__key", "__warned", "__already_done.", "__func__", "__FUNCTION__", "_rs", "CSWTCH", "_entry"}
