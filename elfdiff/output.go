package elfdiff

import (
	"debug/elf"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/relocs"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// klpReloc is a relocation that the livepatch core resolves at patch
// time against the running kernel (or a module) instead of the module
// loader.
type klpReloc struct {
	base   *section // the section the relocation applies to
	off    uint64
	typ    uint32
	addend int64
	sym    *symbol
	res    symtab.Result
	ext    bool
}

// The sizes of the intermediate tables on 64-bit machines.
const (
	kpatchFuncSize  = 56
	kpatchRelocSize = 40
	kpatchSymSize   = 40
)

// findSymbol resolves a symbol of the patched object in the parent's
// symbol table, the way the reference's lookup_symbol does.
func (d *differ) findSymbol(sym *symbol) (symtab.Result, bool, error) {
	if d.lookup == nil {
		return symtab.Result{}, false, nil
	}
	block := -1
	if sym.isLocal() {
		block = sym.file
	}
	r, ok, err := d.lookup.Find(sym.Name, block)
	if err != nil {
		return r, ok, d.refuseLookup(sym.Name, err)
	}
	return r, ok, nil
}

// needKLP decides whether a relocation must become a livepatch relocation.
func (d *differ) needKLP(rs *section, r *rela) (bool, symtab.Result, error) {
	var none symtab.Result
	if rs.isDebug() {
		return false, none, nil
	}
	sym := r.sym
	switch sym.Name {
	case "kpatch_shadow_alloc", "kpatch_shadow_free", "kpatch_shadow_get":
		return false, none, nil
	}
	if d.arch.AlwaysNormal(sym.Name) {
		return false, none, nil
	}
	if sym.sec != nil && sym.sec.include {
		// A pointer to an existing function must keep designating the
		// original, which stays valid after the patch is unloaded.
		if t, _ := d.arch.Type(r.typ); t.KeepsOriginal && sym.isFunc() && sym.parent == nil &&
			r.addend+t.Bias == int64(sym.Value) && sym.status != New && !strings.Contains(sym.Name, ".") {
			res, ok, err := d.findSymbol(sym)
			if err != nil || !ok {
				return false, none, err
			}
			return true, res, nil
		}
		return false, none, nil
	}
	res, ok, err := d.findSymbol(sym)
	if err != nil {
		return false, none, err
	}
	if !ok {
		return false, none, nil
	}
	if sym.isLocal() {
		if res.Global {
			return false, none, d.refuse(refusal.LocalNotFound, sym.Name, sym.Name)
		}
		return true, res, nil
	}
	if res.Exported {
		return res.ObjName != "vmlinux", res, nil
	}
	return true, res, nil
}

// buildOutput assembles the output object from the included elements.
func (d *differ) buildOutput() (*elfobj.File, error) {
	pf := d.patched.file
	out := &elfobj.File{Name: d.opts.OutputName, Data: pf.Data, OSABI: pf.OSABI, ABIVersion: pf.ABIVersion,
		Type: elf.ET_REL, Machine: pf.Machine, Version: pf.Version, Flags: pf.Flags}

	// Sections, in their original order.
	var secs []*section
	for _, s := range d.patched.secs {
		if !s.include {
			continue
		}
		if s.isRela() && (s.base == nil || !s.base.include) {
			continue
		}
		secs = append(secs, s)
	}
	// Cut links to sections that are not in the output.
	for _, sym := range d.patched.syms {
		if !sym.include || sym.strip {
			continue
		}
		if sym.sec != nil && !sym.sec.include {
			if sym.Type == elf.STT_SECTION {
				sym.strip = true
				continue
			}
			sym.sec = nil
			sym.Section = nil
			sym.Shndx = elf.SHN_UNDEF
			sym.Value, sym.Size = 0, 0
		}
	}

	// Decide klp relocations.
	var klps []*klpReloc
	for _, rs := range secs {
		if !rs.isRela() || rs.base.Name == ".kpatch.funcs" {
			continue
		}
		kept := rs.relas[:0]
		for _, r := range rs.relas {
			need, res, err := d.needKLP(rs, r)
			if err != nil {
				return nil, err
			}
			if !need {
				kept = append(kept, r)
				continue
			}
			if d.opts.Parent != "vmlinux" && d.isSpecialSection(rs.base.Name) {
				return nil, d.refuse(refusal.ModuleSpecialKlp, r.sym.Name, r.sym.Name, rs.base.Name)
			}
			if t, ok := d.arch.Type(r.typ); !ok || !t.KLP {
				return nil, d.refuse(refusal.KlpRelocType, rs.base.Name, rs.base.Name, r.off, d.arch.TypeName(r.typ), r.sym.Name)
			}
			k := &klpReloc{base: rs.base, off: r.off, typ: r.typ, addend: r.addend, sym: r.sym, res: res,
				ext: d.opts.Parent != "vmlinux" && res.Exported}
			r.klp = k
			klps = append(klps, k)
		}
		rs.relas = kept
	}
	// Symbols referenced by normal relocations stay; those used only by
	// klp relocations and undefined here are dropped.
	used := map[*symbol]bool{}
	for _, rs := range secs {
		if rs.isRela() {
			for _, r := range rs.relas {
				used[r.sym] = true
			}
		}
	}
	for _, k := range klps {
		if k.sym.sec == nil && !used[k.sym] {
			k.sym.strip = true
		}
	}

	// Changed functions are bound locally.
	for _, sym := range d.patched.syms {
		if sym.include && sym.isFunc() && sym.status == Changed && sym.sec != nil {
			sym.Bind = elf.STB_LOCAL
		}
	}

	// Symbol order: NULL, FILE, local FUNC, other locals, globals.
	var syms []*symbol
	rank := func(s *symbol) int {
		switch {
		case s == d.patched.syms[0]:
			return 0
		case s.Type == elf.STT_FILE:
			return 1
		case s.isLocal() && s.isFunc():
			return 2
		case s.isLocal():
			return 3
		}
		return 4
	}
	for _, sym := range d.patched.syms {
		if sym.include && !sym.strip {
			syms = append(syms, sym)
		}
	}
	sort.SliceStable(syms, func(i, j int) bool { return rank(syms[i]) < rank(syms[j]) })

	b := &outBuilder{d: d, out: out}
	for _, s := range secs {
		b.addSection(s)
	}
	for _, sym := range syms {
		b.addSymbol(sym)
	}
	if err := b.kpatchSections(klps); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *differ) isSpecialSection(n string) bool {
	for _, r := range specialNames() {
		if r == n {
			return true
		}
	}
	return n == ".altinstr_replacement" || n == ".orc_unwind_ip"
}

type outBuilder struct {
	d       *differ
	out     *elfobj.File
	secs    []*section
	syms    []*elfobj.Symbol
	extra   []*elfobj.Section
	strData []byte
	strOff  map[string]uint64
	strSec  *elfobj.Section
}

func (b *outBuilder) addSection(s *section) {
	b.secs = append(b.secs, s)
	b.out.Sections = append(b.out.Sections, s.Section)
}

func (b *outBuilder) addSymbol(s *symbol) {
	b.syms = append(b.syms, s.Symbol)
}

// str returns the offset of s in .kpatch.strings, adding it once.
func (b *outBuilder) str(s string) int64 {
	if b.strOff == nil {
		b.strOff = map[string]uint64{}
	}
	if o, ok := b.strOff[s]; ok {
		return int64(o)
	}
	o := uint64(len(b.strData))
	b.strData = append(b.strData, s...)
	b.strData = append(b.strData, 0)
	b.strOff[s] = o
	return int64(o)
}

func (b *outBuilder) newSection(name string, typ elf.SectionType, flags elf.SectionFlag, align, entsize uint64, data []byte) *elfobj.Section {
	s := &elfobj.Section{Name: name, Type: typ, Flags: flags, Align: align, EntSize: entsize, Data: data, Size: uint64(len(data))}
	b.extra = append(b.extra, s)
	return s
}

func (b *outBuilder) secSym(s *elfobj.Section) *elfobj.Symbol {
	sym := &elfobj.Symbol{Name: s.Name, Type: elf.STT_SECTION, Bind: elf.STB_LOCAL, Section: s}
	s.Sym = sym
	b.syms = append(b.syms, sym)
	return sym
}

func (b *outBuilder) relaFor(s *elfobj.Section) *elfobj.Section {
	r := b.newSection(".rela"+s.Name, elf.SHT_RELA, elf.SHF_INFO_LINK, 8, 24, nil)
	r.Base = s
	s.Rela = r
	return r
}

func (b *outBuilder) absType() uint32 { return b.d.arch.Abs64 }

func (b *outBuilder) kpatchSections(klps []*klpReloc) error {
	d := b.d
	bo := byteOrder(d.patched.file.Data)
	abs := b.absType()
	if len(d.importNS) > 0 {
		var data []byte
		for _, ns := range d.importNS {
			data = append(data, ns...)
			data = append(data, 0)
		}
		m := b.newSection(".modinfo", elf.SHT_PROGBITS, elf.SHF_ALLOC, 1, uint64(len(data)), data)
		b.secSym(m)
	}
	b.strSec = b.newSection(".kpatch.strings", elf.SHT_PROGBITS, elf.SHF_ALLOC, 1, 1, nil)
	strSym := b.secSym(b.strSec)

	// .kpatch.funcs
	var funcs []*symbol
	for _, sym := range d.patched.syms {
		if sym.include && !sym.strip && sym.isFunc() && sym.status == Changed && sym.parent == nil && sym.sec != nil && !sym.isPfx {
			funcs = append(funcs, sym)
		}
	}
	fdata := make([]byte, len(funcs)*kpatchFuncSize)
	fsec := b.newSection(".kpatch.funcs", elf.SHT_PROGBITS, elf.SHF_ALLOC, 8, kpatchFuncSize, fdata)
	b.secSym(fsec)
	frela := b.relaFor(fsec)
	for i, f := range funcs {
		res, ok, err := d.findSymbol(f)
		if err != nil {
			return err
		}
		if !ok {
			return d.refuse(refusal.SymbolNotFound, f.Name, f.Name)
		}
		if f.origBind() == elf.STB_LOCAL && res.Global {
			return d.refuse(refusal.LocalNotFound, f.Name, f.Name)
		}
		base := i * kpatchFuncSize
		bo.PutUint64(fdata[base+8:], f.Size)
		bo.PutUint64(fdata[base+16:], res.Addr)
		bo.PutUint64(fdata[base+24:], res.Size)
		bo.PutUint64(fdata[base+32:], res.Sympos)
		frela.Relocs = append(frela.Relocs,
			elfobj.Reloc{Offset: uint64(base), Type: abs, Sym: f.Symbol},
			elfobj.Reloc{Offset: uint64(base + 40), Type: abs, Sym: strSym, Addend: b.str(f.Name)},
			elfobj.Reloc{Offset: uint64(base + 48), Type: abs, Sym: strSym, Addend: b.str(d.opts.Parent)})
		d.report.addFunc(f.Name, d.opts.Parent, res, f.Size)
	}

	// .kpatch.relocations and .kpatch.symbols
	rdata := make([]byte, len(klps)*kpatchRelocSize)
	sdata := make([]byte, len(klps)*kpatchSymSize)
	rsec := b.newSection(".kpatch.relocations", elf.SHT_PROGBITS, elf.SHF_ALLOC, 8, kpatchRelocSize, rdata)
	b.secSym(rsec)
	rrela := b.relaFor(rsec)
	ssec := b.newSection(".kpatch.symbols", elf.SHT_PROGBITS, elf.SHF_ALLOC, 8, kpatchSymSize, sdata)
	ssym := b.secSym(ssec)
	srela := b.relaFor(ssec)
	emitted := make(map[*elfobj.Symbol]bool, len(b.syms))
	for _, s := range b.syms {
		emitted[s] = true
	}
	for i, k := range klps {
		// The destination is the section symbol of the relocated section;
		// create one if the object has none or it was not kept.
		dest := k.base.Sym
		if dest == nil || !emitted[dest] {
			dest = b.secSym(k.base.Section)
			emitted[dest] = true
		}
		ro := i * kpatchRelocSize
		bo.PutUint32(rdata[ro+8:], k.typ)
		if k.ext {
			bo.PutUint32(rdata[ro+12:], 1)
		}
		bo.PutUint64(rdata[ro+16:], uint64(k.addend))
		rrela.Relocs = append(rrela.Relocs,
			elfobj.Reloc{Offset: uint64(ro), Type: abs, Sym: dest, Addend: int64(k.off)},
			elfobj.Reloc{Offset: uint64(ro + 24), Type: abs, Sym: strSym, Addend: b.str(d.opts.Parent)},
			elfobj.Reloc{Offset: uint64(ro + 32), Type: abs, Sym: ssym, Addend: int64(i * kpatchSymSize)})
		so := i * kpatchSymSize
		src := k.res.Addr
		bo.PutUint64(sdata[so:], src)
		bo.PutUint64(sdata[so+8:], k.res.Sympos)
		sdata[so+16] = byte(k.sym.origBind())
		sdata[so+17] = byte(k.sym.Type)
		srela.Relocs = append(srela.Relocs,
			elfobj.Reloc{Offset: uint64(so + 24), Type: abs, Sym: strSym, Addend: b.str(k.sym.Name)},
			elfobj.Reloc{Offset: uint64(so + 32), Type: abs, Sym: strSym, Addend: b.str(k.res.ObjName)})
		d.report.addKLP(d.arch, k)
	}

	// Callbacks: point each at the parent object name.
	for _, cb := range d.callbacks {
		for _, s := range b.secs {
			if s.Name == cb.sec && s.rela != nil {
				s.rela.relas = append(s.rela.relas, &rela{off: 8, typ: abs, sym: &symbol{Symbol: strSym}, addend: b.str(d.opts.Parent)})
			}
		}
	}

	// __mcount_loc for every new or changed traceable function.
	var mfuncs []*symbol
	for _, sym := range d.patched.syms {
		if sym.include && !sym.strip && sym.isFunc() && sym.status != Same && sym.hasFentry && sym.sec != nil {
			mfuncs = append(mfuncs, sym)
		}
	}
	if d.arch.Entry.Kind == relocs.EntryPatchable {
		b.patchableEntries(mfuncs)
		b.strSec.Data = b.strData
		b.strSec.Size = uint64(len(b.strData))
		return nil
	}
	mdata := make([]byte, 8*len(mfuncs))
	msec := b.newSection("__mcount_loc", elf.SHT_PROGBITS, elf.SHF_ALLOC, 8, 8, mdata)
	b.secSym(msec)
	mrela := b.relaFor(msec)
	for i, f := range mfuncs {
		if d.arch.EntryNop(f.sec.Data, f.Value) {
			// The entry nop is the site, at the function's first byte.
			mrela.Relocs = append(mrela.Relocs, elfobj.Reloc{Offset: uint64(8 * i), Type: abs, Sym: f.Symbol})
			continue
		}
		first := f.sec.rela.relas[0]
		if d.arch.RestoreCall != nil {
			// An old nop'ed mcount site: make it a call again.
			data := append([]byte(nil), f.sec.Data...)
			if t, ok := d.arch.RestoreCall(data, first.off, first.typ); ok {
				f.sec.Data = data
				first.typ = t
			}
		}
		site := int64(first.off) - int64(d.arch.Entry.SiteBefore) - int64(f.Value)
		mrela.Relocs = append(mrela.Relocs, elfobj.Reloc{Offset: uint64(8 * i), Type: abs, Sym: f.Symbol, Addend: site})
	}
	b.strSec.Data = b.strData
	b.strSec.Size = uint64(len(b.strData))
	return nil
}

// origBind is the symbol's binding before changed functions were made local.
func (s *symbol) origBind() elf.SymBind {
	if s.twin != nil {
		return s.twin.Bind
	}
	return s.Bind
}

func (b *outBuilder) finish() error {
	d := b.d
	out := b.out
	// Relocation entries of copied sections.
	for _, s := range b.secs {
		if s.isRela() {
			s.Relocs = s.Relocs[:0:0]
			for _, r := range s.relas {
				s.Relocs = append(s.Relocs, elfobj.Reloc{Offset: r.off, Type: r.typ, Sym: r.sym.Symbol, Addend: r.addend})
			}
			s.Base = s.base.Section
		}
		if s.Type == elf.SHT_GROUP {
			var ms []*elfobj.Section
			for _, m := range s.Members {
				for _, t := range b.secs {
					if t.Section == m {
						ms = append(ms, m)
					}
				}
			}
			s.Members = ms
		}
		if s.LinkSection != nil && !contains(b.secs, s.LinkSection) {
			s.LinkSection = nil
		}
		if s.Type != elf.SHT_NOBITS {
			s.Size = uint64(len(s.Data))
		}
	}
	out.Sections = append(out.Sections, b.extra...)
	// Section symbols of created sections go with the other locals.
	var locals, globals []*elfobj.Symbol
	for _, s := range b.syms {
		if s.Bind == elf.STB_LOCAL {
			locals = append(locals, s)
		} else {
			globals = append(globals, s)
		}
	}
	out.Symbols = append(locals, globals...)
	// Every relocation must reference a symbol of the output.
	emitted := make(map[*elfobj.Symbol]bool, len(out.Symbols))
	for _, s := range out.Symbols {
		emitted[s] = true
	}
	for _, s := range out.Sections {
		for _, r := range s.Relocs {
			if !emitted[r.Sym] {
				return d.refuse(refusal.RelocNotInOutput, r.Sym.Name, s.Name, r.Offset, r.Sym.Name)
			}
		}
	}
	// Out-of-range check on the final relocations.
	for _, s := range b.secs {
		if !s.isRela() {
			continue
		}
		for _, r := range s.relas {
			t := r.sym.Symbol.Section
			if t == nil || r.sym.Type == elf.STT_SECTION {
				continue
			}
			var in *relocs.Insns
			if s.base.isText() {
				in, _ = s.base.text(d.arch)
			}
			off, err := d.arch.TargetOffset(in, r.typ, r.off, r.addend)
			if err != nil {
				off = r.addend
			}
			v := int64(r.sym.Value) + off
			if v < 0 || v > int64(t.Size) {
				return d.refuse(refusal.RelocOutOfRange, s.base.Name, s.base.Name, r.off, r.sym.Name, r.addend)
			}
		}
	}
	return nil
}

func contains(secs []*section, e *elfobj.Section) bool {
	for _, s := range secs {
		if s.Section == e {
			return true
		}
	}
	return false
}
