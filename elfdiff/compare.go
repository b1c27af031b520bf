package elfdiff

import (
	"bytes"
	"debug/elf"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// alwaysSame are sections the engine regenerates rather than compares.
func alwaysSame(n string) bool {
	switch n {
	case "__mcount_loc", ".rela__mcount_loc", ".sframe", ".rela.sframe",
		"__patchable_function_entries", ".rela__patchable_function_entries", ".rela.toc":
		return true
	}
	return false
}

func (d *differ) compareSections() error {
	for _, s := range d.patched.secs {
		if s.twin == nil {
			s.status = New
			continue
		}
		if err := d.compareSection(s); err != nil {
			return err
		}
	}
	for _, s := range d.patched.secs {
		ok, err := d.lineMacroChangeOnly(s)
		if err != nil {
			return err
		}
		if ok {
			d.debugf("reverting macro / line number section %s status to SAME", s.Name)
			s.status = Same
		}
	}
	// Sync symbol status with section status.
	for _, s := range d.patched.secs {
		if s.isRela() {
			if s.base != nil && s.base.bundled != nil && s.base.bundled.status != Changed {
				s.base.bundled.status = s.status
			}
		} else if s.bundled != nil && s.bundled.status != Changed {
			s.bundled.status = s.status
		}
	}
	return nil
}

func (d *differ) compareSection(s *section) error {
	o := s.twin
	if s.Type != o.Type || s.Flags != o.Flags || s.EntSize != o.EntSize ||
		(s.Align != o.Align && !s.isText()) {
		return d.refuse(refusal.SectionHeader, s.Name, s.Name, o.Name)
	}
	if alwaysSame(s.Name) {
		s.status = Same
		return nil
	}
	if s.Size != o.Size || (s.rela == nil) != (o.rela == nil) {
		s.status = Changed
		return nil
	}
	if s.isRela() {
		s.status = Same
		for i, r := range s.relas {
			if !d.relaEqual(o.relas[i], r) {
				s.status = Changed
				break
			}
		}
		return nil
	}
	if s.Type == elf.SHT_NOBITS || bytes.Equal(s.Data, o.Data) || s.Type == elf.SHT_GROUP && d.sameGroup(o, s) {
		s.status = Same
	} else {
		s.status = Changed
	}
	return nil
}

func (d *differ) relaEqual(a, b *rela) bool {
	if a.typ != b.typ || a.off != b.off {
		return false
	}
	if a.sym.sec != nil && b.sym.sec != nil && a.sym.sec.Name == ".altinstr_aux" && b.sym.sec.Name == ".altinstr_aux" {
		return true
	}
	if a.viaTOC || b.viaTOC {
		return tocRelaEqual(a, b)
	}
	if a.hasStr && b.hasStr {
		return a.str == b.str
	}
	if a.addend != b.addend {
		return false
	}
	return mangledEqual(a.sym.Name, b.sym.Name)
}

// lineMacroFuncs are the functions a WARN, might_sleep or similar macro
// passes __LINE__ to.
var lineMacroFuncs = map[string]bool{
	"__warn_printk": true, "__might_sleep": true, "___might_sleep": true, "__might_fault": true,
	"printk": true, "_printk": true, "lockdep_rcu_suspicious": true,
	"__btrfs_abort_transaction": true, "__btrfs_handle_fs_error": true, "__btrfs_panic": true,
}

// isLineMacroFunc reports whether n is a function whose line-number
// argument may change alone: the architecture's own list when it has one.
func (d *differ) isLineMacroFunc(n string) bool {
	if d.arch.LineMacroFuncs != nil {
		return slices.Contains(d.arch.LineMacroFuncs, n)
	}
	return lineMacroFuncs[n] || strings.HasPrefix(n, "warn_slowpath_")
}

// lineMacroChangeOnly reports whether a changed text section differs from
// its twin only in line numbers passed to WARN-style macros.
func (d *differ) lineMacroChangeOnly(s *section) (bool, error) {
	if !s.isText() || s.status != Changed || s.twin == nil || s.Size != s.twin.Size {
		return false, nil
	}
	if s.rela == nil || s.rela.status != Same {
		return false, nil
	}
	if d.arch.LineArgLoad == nil {
		return false, nil
	}
	pi, err := s.text(d.arch)
	if err != nil {
		return false, d.refuse(refusal.Decode, s.Name, s.Name, err)
	}
	oi, err := s.twin.text(d.arch)
	if err != nil {
		return false, d.refuse(refusal.Decode, s.Name, s.twin.Name, err)
	}
	if pi.Len() != oi.Len() {
		return false, nil
	}
	found := false
	for i := 0; i < pi.Len(); i++ {
		ps, pe := pi.At(i)
		os, oe := oi.At(i)
		if ps != os || pe != oe {
			return false, nil
		}
		if bytes.Equal(s.Data[ps:pe], s.twin.Data[os:oe]) {
			continue
		}
		found = true
		if !d.arch.LineArgLoad(s.Data[ps:pe]) || !d.arch.LineArgLoad(s.twin.Data[os:oe]) {
			return false, nil
		}
		if !d.lineMacroCallFollows(s.rela, uint64(pe)) {
			return false, nil
		}
	}
	if !found {
		return false, d.refuse(refusal.NoInstructionChange, s.Name, s.Name)
	}
	return true, nil
}

func (d *differ) lineMacroCallFollows(rs *section, end uint64) bool {
	for _, r := range rs.relas {
		if r.off < end {
			continue
		}
		// On ppc64le strings and statics are reached through .toc.
		t := r.target()
		if t == nil {
			t = r
		}
		if r.hasStr || t.hasStr {
			continue
		}
		n := t.sym.Name
		if strings.HasPrefix(n, "__warned.") || strings.HasPrefix(n, "__already_done.") || strings.HasPrefix(n, "__func__.") {
			continue
		}
		return d.isLineMacroFunc(n)
	}
	return false
}

func textFlavour(n string) string {
	for _, p := range []string{".text.hot.", ".text.unlikely.", ".text."} {
		if strings.HasPrefix(n, p) {
			return n[len(p):]
		}
	}
	return n
}

func (d *differ) compareSymbols() error {
	for _, s := range d.patched.syms {
		if s.twin == nil {
			s.status = New
			continue
		}
		o := s.twin
		if s.Type != o.Type || s.Bind != o.Bind {
			return d.refuse(refusal.SymbolBinding, s.Name, s.Name)
		}
		if (s.sec == nil) != (o.sec == nil) {
			return d.refuse(refusal.SymbolDefinition, s.Name, s.Name)
		}
		if o.sec != nil && o.sec.twin != s.sec {
			if (o.sec.ignore) || (s.sec != nil && textFlavour(o.sec.Name) == textFlavour(s.sec.Name) && o.sec.isText() && s.sec.isText()) {
				s.status = Changed
			} else {
				return d.refuse(refusal.SymbolSection, s.Name, s.Name)
			}
		}
		if s.Type == elf.STT_OBJECT && s.Size != o.Size {
			return d.refuse(refusal.ObjectSize, s.Name, s.Name)
		}
		if s.Section == nil && (s.Shndx == elf.SHN_UNDEF || s.Shndx == elf.SHN_ABS) {
			s.status = Same
		}
	}
	// A function whose non-traceable child (.cold) changed is patched
	// through its parent.
	for _, s := range d.patched.syms {
		if s.isFunc() && s.status == Same && s.parent == nil && childChanged(s) {
			s.status = Changed
		}
	}
	return nil
}

func childChanged(f *symbol) bool {
	for _, c := range f.children {
		if c.hasFentry {
			continue
		}
		if c.status != Same || childChanged(c) {
			return true
		}
	}
	return false
}
