package elfdiff

import (
	"bytes"
	"debug/elf"
	"sort"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// findPatchableEntries marks the functions that have an ftrace entry on
// an architecture with -fpatchable-function-entry: a relocation in a
// patchable-entry section (arch.Entry.Section) designates the function's
// first patchable NOP. That NOP is either inside the function (NOPs after
// the symbol) or before its symbol, with nothing but NOPs between them
// (NOPs before the symbol, as arm64 CALL_OPS puts them). The first site
// of each function is kept as its entrySite.
func (d *differ) findPatchableEntries(o *object) {
	sites := map[*section][]uint64{}
	for _, rs := range o.secs {
		if !rs.isRela() || rs.base == nil || rs.base.Name != d.arch.Entry.Section {
			continue
		}
		for _, r := range rs.relas {
			if r.sym.sec == nil {
				continue
			}
			off := int64(r.sym.Value) + r.addend
			if off < 0 || off > int64(r.sym.sec.Size) {
				continue
			}
			sites[r.sym.sec] = append(sites[r.sym.sec], uint64(off))
		}
	}
	for sec, offs := range sites {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for _, f := range o.bySec[sec] {
			if !f.isFunc() || f.isPfx {
				continue
			}
			if site, ok := d.entrySiteOf(f, offs); ok {
				f.hasFentry, f.entrySite = true, site
			}
		}
	}
}

// entrySiteOf returns the first of the sorted site offsets that is f's
// patchable entry: inside f, or before f with only NOPs up to its symbol.
func (d *differ) entrySiteOf(f *symbol, offs []uint64) (uint64, bool) {
	nop := d.arch.Entry.Nop
	data := f.sec.Data
	for _, s := range offs {
		switch {
		case s >= f.Value && s < f.Value+max(f.Size, 1):
			return s, true
		case s < f.Value && len(nop) > 0 && (f.Value-s)%uint64(len(nop)) == 0 && f.Value <= uint64(len(data)) &&
			allNops(data[s:f.Value], nop) && d.noFuncBetween(f, s):
			return s, true
		}
	}
	return 0, false
}

// allNops reports whether b is a run of the nop instruction.
func allNops(b, nop []byte) bool {
	for len(b) >= len(nop) {
		if !bytes.Equal(b[:len(nop)], nop) {
			return false
		}
		b = b[len(nop):]
	}
	return len(b) == 0
}

// noFuncBetween reports whether no other function of f's section covers
// any byte of [start, f.Value): the padding belongs to f alone.
func (d *differ) noFuncBetween(f *symbol, start uint64) bool {
	o := d.patched
	if o == nil || o.symOf[f.Symbol] != f {
		o = d.orig
	}
	for _, g := range o.bySec[f.sec] {
		if g != f && g.isFunc() && g.Value < f.Value && g.Value+g.Size > start {
			return false
		}
	}
	return true
}

// patchableEntries writes, for every function of funcs, its own
// patchable-entry section (arch.Entry.Section) with one pointer to its
// first patchable NOP, linked to the function's text section: the
// compiler's layout, which the kernel's ftrace reads on arm64, loongarch
// and ppc64le. SHF_LINK_ORDER is set when the input's sections had it.
func (b *outBuilder) patchableEntries(funcs []*symbol) {
	d := b.d
	flags := elf.SHF_WRITE | elf.SHF_ALLOC
	for _, s := range d.patched.secs {
		if s.Name == d.arch.Entry.Section && s.Flags&elf.SHF_LINK_ORDER != 0 {
			flags |= elf.SHF_LINK_ORDER
			break
		}
	}
	size := uint64(d.arch.PtrSize)
	for _, f := range funcs {
		sec := b.newSection(d.arch.Entry.Section, elf.SHT_PROGBITS, flags, size, 0, make([]byte, size))
		if flags&elf.SHF_LINK_ORDER != 0 {
			sec.LinkSection = f.sec.Section
		}
		rela := b.relaFor(sec)
		rela.Relocs = append(rela.Relocs, elfobj.Reloc{Type: d.arch.Abs64, Sym: f.Symbol, Addend: int64(f.entrySite) - int64(f.Value)})
	}
}

// foldLocalLabels rewrites every relocation against a local NOTYPE label
// (.LC0, .LPFE1, ...) into one against the label's section symbol, the
// label's offset added to the addend, and drops the labels: they are the
// assembler's names for places, which differ between builds and must not
// be correlated or written. A label whose section has no section symbol
// is kept as it is.
func foldLocalLabels(o *object) {
	isLabel := func(s *symbol) bool {
		return s.Type == elf.STT_NOTYPE && s.Bind == elf.STB_LOCAL && s.sec != nil && s.sec.secsym != nil && s.Name != ""
	}
	for _, rs := range o.secs {
		for _, r := range rs.relas {
			if isLabel(r.sym) {
				r.addend += int64(r.sym.Value)
				r.sym = r.sym.sec.secsym
			}
		}
	}
	keep := o.syms[:0]
	for _, s := range o.syms {
		if !isLabel(s) {
			keep = append(keep, s)
		}
	}
	o.syms = keep
	for sec, syms := range o.bySec {
		k := syms[:0]
		for _, s := range syms {
			if !isLabel(s) {
				k = append(k, s)
			}
		}
		o.bySec[sec] = k
	}
}
