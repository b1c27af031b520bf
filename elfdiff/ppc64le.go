package elfdiff

import (
	"debug/elf"
	"encoding/binary"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// The ppc64le parts of the engine (see relocs/ppc64le.go for the ABI).

func (d *differ) ppc64() bool { return d.machine == elf.EM_PPC64 }

// ppcPrepare runs the ppc64le steps of per-object preparation: it marks
// the functions whose symbol follows a TOC offset word (local entry
// point) and links every TOC-relative relocation to the .rela.toc entry
// of the doubleword it loads. A load of a doubleword that is not inside
// .toc is refused.
func (d *differ) ppcPrepare(o *object) error {
	for _, sym := range o.syms {
		sym.localEntry = sym.isFunc() && sym.sec != nil && relocs.PPC64LocalEntry(sym.Other) != 0 &&
			sym.Value == relocs.PPC64TOCOffset
	}
	toc := o.section(".toc")
	if toc == nil {
		return nil
	}
	byOff := map[uint64]*rela{}
	if toc.rela != nil {
		for _, r := range toc.rela.relas {
			if _, ok := byOff[r.off]; !ok {
				byOff[r.off] = r
			}
		}
	}
	for _, rs := range o.secs {
		if !rs.isRela() || rs.base == nil || rs.base == toc || rs.isDebug() {
			continue
		}
		for _, r := range rs.relas {
			if r.sym.Type != elf.STT_SECTION || r.sym.sec != toc || !relocs.PPC64TOCRelative(elf.R_PPC64(r.typ)) {
				continue
			}
			if r.addend < 0 || r.addend > int64(len(toc.Data))-8 {
				return d.refuse(refusal.RelocOutOfRange, rs.base.Name, rs.base.Name, r.off, toc.Name, r.addend)
			}
			r.viaTOC = true
			r.toc = byOff[uint64(r.addend)]
			if r.toc == nil {
				r.tocConst = binary.LittleEndian.Uint64(toc.Data[r.addend:])
			}
		}
	}
	return nil
}

// target is the relocation that names what r designates: r itself, or for
// a load through the TOC the .rela.toc entry of the loaded doubleword; nil
// when that doubleword is a constant.
func (r *rela) target() *rela {
	if r.viaTOC {
		return r.toc
	}
	return r
}

// tocRelaEqual compares two relocations of which at least one loads a TOC
// entry (type and offset already equal): .toc offsets move between builds,
// so what counts is the entry's content — the same constant, the same
// string, or the same symbol and addend.
func tocRelaEqual(a, b *rela) bool {
	ta, tb := a.target(), b.target()
	if ta == nil || tb == nil {
		return ta == nil && tb == nil && a.viaTOC && b.viaTOC && a.tocConst == b.tocConst
	}
	if ta.hasStr {
		return tb.hasStr && ta.str == tb.str
	}
	if ta.addend != tb.addend {
		return false
	}
	return mangledEqual(ta.sym.Name, tb.sym.Name)
}

// ppcFindProfiling marks the functions traceable under -mprofile-kernel:
// those whose section calls _mcount (mflr r0; bl _mcount at the local
// entry).
func (d *differ) ppcFindProfiling(o *object) {
	for _, sym := range o.syms {
		if sym.isFunc() && sym.sec != nil && sym.sec.rela != nil {
			sym.mcount = mcountSite(sym)
			sym.hasFentry = sym.mcount != nil
		}
	}
}

// mcountSite is the relocation of the function's call to _mcount.
func mcountSite(sym *symbol) *rela {
	for _, r := range sym.sec.rela.relas {
		if r.sym.Name == "_mcount" {
			return r
		}
	}
	return nil
}

// ppcMarkFunctionPointers forces a livepatch relocation on each .toc entry
// that a function loads as a pointer to an existing function of this
// object, so the pointer keeps designating the original function (valid
// after the patch is unloaded). New functions and nested or clone
// functions (a "." in the name) keep normal relocations.
func (d *differ) ppcMarkFunctionPointers(secs []*section) {
	for _, rs := range secs {
		if !rs.isRela() || rs.isDebug() {
			continue
		}
		for _, r := range rs.relas {
			t := r.toc
			if !r.viaTOC || t == nil || r.sym.sec == nil || !r.sym.sec.include {
				continue
			}
			f := t.sym
			if f.isFunc() && f.parent == nil && t.addend == int64(f.Value) && f.status != New && !strings.Contains(f.Name, ".") {
				t.forceKLP = true
			}
		}
	}
}

// ppcKLPAddend is the addend a livepatch relocation to sym carries: a
// reference to the local entry of a function that has one designates the
// function itself (the kernel adds the local entry offset when it
// resolves a call).
func ppcKLPAddend(sym *symbol, addend int64) int64 {
	if sym.localEntry && addend == relocs.PPC64TOCOffset {
		return addend - relocs.PPC64TOCOffset
	}
	return addend
}

// ppcNoSiblingCalls refuses a changed function that ends in a tail call
// ("b target" with a REL24 relocation): the stub the kernel puts in front
// of a patched function's callee would store the patch module's TOC
// pointer into the caller's frame.
func (d *differ) ppcNoSiblingCalls() error {
	for _, sym := range d.patched.syms {
		if !sym.include || sym.strip || !sym.isFunc() || sym.status != Changed || sym.sec == nil {
			continue
		}
		relocAt := map[uint64]bool{}
		if sym.sec.rela != nil {
			for _, r := range sym.sec.rela.relas {
				relocAt[r.off] = true
			}
		}
		in, err := relocs.DecodePPC64(sym.sec.Data)
		if err != nil {
			return d.refuse(refusal.Decode, sym.sec.Name, sym.sec.Name, err)
		}
		for i := 0; i < in.Len(); i++ {
			start, end := in.At(i)
			if end-start != 4 {
				continue
			}
			w, _ := relocs.PPC64Word(sym.sec.Data, uint64(start))
			if relocs.PPC64UnlinkedBranch(w) && relocAt[uint64(start)] {
				return d.refuse(refusal.SiblingCall, sym.Name, sym.Name, sym.Value+uint64(start), sym.Name)
			}
		}
	}
	return nil
}

// ppcFeatureSections are the feature-fixup tables whose entries point at
// alternative code in __ftr_alt_* sections.
var ppcFeatureSections = []string{"__ftr_fixup", "__mmu_ftr_fixup", "__fw_ftr_fixup"}

// ppcIncludeAlternatives includes the alternative code that the kept
// feature-fixup entries point at (the __ftr_alt_* sections): the kernel
// copies it over the patched function's default code at load time, so it
// must be in the output with the entries.
func (d *differ) ppcIncludeAlternatives() {
	for _, name := range ppcFeatureSections {
		s := d.patched.section(name)
		if s == nil || !s.include || s.rela == nil {
			continue
		}
		for _, r := range s.rela.relas {
			if t := r.sym.sec; t != nil && strings.HasPrefix(t.Name, "__ftr_alt_") {
				d.includeSection(t, "alternative code of "+name)
			}
		}
	}
}
