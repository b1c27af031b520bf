package elfdiff

import (
	"debug/elf"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
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
	if d.ppc64() && relocs.PPC64LoaderOnly(elf.R_PPC64(r.typ), rs.base.Name) {
		return false, none, nil
	}
	sym := r.sym
	if r.forceKLP {
		res, ok, err := d.findSymbol(sym)
		return ok && err == nil, res, err
	}
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
		// A global function of this object called at its local entry
		// (ppc64le) needs the livepatch core to resolve it.
		return res.ObjName != "vmlinux" || sym.localEntry, res, nil
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
	if d.ppc64() {
		d.ppcMarkFunctionPointers(secs)
	}
	var klps []*klpReloc
	for _, rs := range secs {
		if !rs.isRela() || rs.base.Name == kpatchfmt.FuncsSection {
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
			k := &klpReloc{base: rs.base, off: r.off, typ: r.typ, addend: ppcKLPAddend(r.sym, r.addend), sym: r.sym, res: res,
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
	d     *differ
	out   *elfobj.File
	secs  []*section
	syms  []*elfobj.Symbol
	extra []*elfobj.Section
}

func (b *outBuilder) addSection(s *section) {
	b.secs = append(b.secs, s)
	b.out.Sections = append(b.out.Sections, s.Section)
}

func (b *outBuilder) addSymbol(s *symbol) {
	b.syms = append(b.syms, s.Symbol)
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
	w := &kpatchfmt.Writer{Layout: kpatchfmt.For(d.patched.file), Abs: abs}
	strSec := b.newSection(kpatchfmt.StringsSection, elf.SHT_PROGBITS, elf.SHF_ALLOC, 1, 1, nil)
	w.StringsSym = b.secSym(strSec)
	table := func(name string, size int) (*elfobj.Section, *elfobj.Section) {
		s := b.newSection(name, elf.SHT_PROGBITS, elf.SHF_ALLOC, uint64(w.Layout.Align()), uint64(size), nil)
		b.secSym(s)
		return s, b.relaFor(s)
	}
	fill := func(s, rela *elfobj.Section, t kpatchfmt.Table) {
		s.Data, s.Size, rela.Relocs = t.Data, uint64(len(t.Data)), t.Relocs
	}

	// .kpatch.funcs
	var funcs []*symbol
	for _, sym := range d.patched.syms {
		if sym.include && !sym.strip && sym.isFunc() && sym.status == Changed && sym.parent == nil && sym.sec != nil && !sym.isPfx {
			funcs = append(funcs, sym)
		}
	}
	fsec, frela := table(kpatchfmt.FuncsSection, w.Layout.FuncSize())
	for _, f := range funcs {
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
		w.AddFunc(kpatchfmt.Func{New: f.Symbol, NewSize: f.Size, OldAddr: res.Addr, OldSize: res.Size, Sympos: res.Sympos,
			Name: f.Name, ObjName: d.opts.Parent})
		d.report.addFunc(f.Name, d.opts.Parent, res, f.Size)
	}
	fill(fsec, frela, w.Funcs)

	// .kpatch.relocations and .kpatch.symbols
	rsec, rrela := table(kpatchfmt.RelocationsSection, w.Layout.RelocSize())
	ssec, srela := table(kpatchfmt.SymbolsSection, w.Layout.SymbolSize())
	w.SymbolsSym = ssec.Sym
	emitted := make(map[*elfobj.Symbol]bool, len(b.syms))
	for _, s := range b.syms {
		emitted[s] = true
	}
	for _, k := range klps {
		// The destination is the section symbol of the relocated section;
		// create one if the object has none or it was not kept.
		if dest := k.base.Sym; dest == nil || !emitted[dest] {
			emitted[b.secSym(k.base.Section)] = true
		}
		err := w.AddRelocation(kpatchfmt.Relocation{Dest: k.base.Section, Offset: k.off, Type: k.typ, External: k.ext,
			Addend: k.addend, ObjName: d.opts.Parent,
			Sym: kpatchfmt.Symbol{Name: k.sym.Name, ObjName: k.res.ObjName, Sympos: k.res.Sympos,
				Bind: k.sym.origBind(), Type: k.sym.Type, Src: k.res.Addr}})
		if err != nil {
			return err
		}
		d.report.addKLP(d.arch, k)
	}
	fill(rsec, rrela, w.Relocations)
	fill(ssec, srela, w.Symbols)

	// Callbacks: point each at the parent object name.
	for _, cb := range d.callbacks {
		for _, s := range b.secs {
			if s.Name == cb.sec && s.rela != nil {
				r := w.CallbackObjName(d.opts.Parent)
				s.rela.relas = append(s.rela.relas, &rela{off: r.Offset, typ: r.Type, sym: &symbol{Symbol: r.Sym}, addend: r.Addend})
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
	} else {
		b.mcountLoc(mfuncs)
	}
	strSec.Data = w.Strings
	strSec.Size = uint64(len(w.Strings))
	return nil
}

// mcountLoc writes __mcount_loc: one pointer to the entry call site of
// every function of funcs.
func (b *outBuilder) mcountLoc(mfuncs []*symbol) {
	d, abs := b.d, b.absType()
	mdata := make([]byte, 8*len(mfuncs))
	msec := b.newSection("__mcount_loc", elf.SHT_PROGBITS, elf.SHF_ALLOC, 8, 8, mdata)
	b.secSym(msec)
	mrela := b.relaFor(msec)
	for i, f := range mfuncs {
		if d.ppc64() {
			site := int64(f.mcount.off) - int64(f.Value)
			mrela.Relocs = append(mrela.Relocs, elfobj.Reloc{Offset: uint64(8 * i), Type: abs, Sym: f.Symbol, Addend: site})
			continue
		}
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
