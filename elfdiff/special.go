package elfdiff

import (
	"debug/elf"
	"sort"
	"strconv"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/sections"
)

// entrySize reads a struct size from the environment.
func (d *differ) entrySize(env string) (int, error) {
	v, ok := d.opts.getenv(env)
	if !ok || v == "" {
		return 0, d.refuse(refusal.StructSizeUnset, env, env)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, d.refuse(refusal.StructSizeInvalid, env, env, v)
	}
	return n, nil
}

// regenerateSpecial rebuilds every special section so that it holds only
// the entries of included functions.
func (d *differ) regenerateSpecial() error {
	for i := range sections.Rules {
		rule := &sections.Rules[i]
		if !rule.For(d.machine) {
			continue
		}
		s := d.patched.section(rule.Name)
		if s == nil || s.rela == nil {
			continue
		}
		if err := d.regenerateOne(rule, s); err != nil {
			return err
		}
	}
	return d.regenerateORC()
}

type group struct{ start, end uint64 }

func (d *differ) groups(rule *sections.Rule, s *section) ([]group, error) {
	var gs []group
	if rule.Grouping == sections.FixupGroups {
		ex := d.patched.section(".rela__ex_table")
		if ex == nil {
			return nil, d.refuse(refusal.ExTableRela, s.Name)
		}
		var offs []uint64
		for _, r := range ex.relas {
			if r.sym.sec == s {
				offs = append(offs, uint64(r.addend))
			}
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		set := map[uint64]bool{}
		for _, o := range offs {
			set[o] = true
		}
		for start := uint64(0); start < s.Size; {
			if !set[start] {
				return nil, d.refuse(refusal.FixupGroup, s.Name, start)
			}
			i := sort.Search(len(offs), func(i int) bool { return offs[i] > start })
			end := s.Size
			if i < len(offs) && offs[i] < end {
				end = offs[i]
			}
			gs = append(gs, group{start, end})
			start = end
		}
		return gs, nil
	}
	size := rule.Size
	if rule.SizeEnv != "" {
		n, err := d.entrySize(rule.SizeEnv)
		if err != nil {
			return nil, err
		}
		size = n
	}
	for start := uint64(0); start < s.Size; start += uint64(size) {
		gs = append(gs, group{start, min(start+uint64(size), s.Size)})
	}
	return gs, nil
}

func (d *differ) regenerateOne(rule *sections.Rule, s *section) error {
	gs, err := d.groups(rule, s)
	if err != nil {
		return err
	}
	// Bucket relocations by group, keeping their order within a group.
	byGroup := make([][]*rela, len(gs))
	for _, r := range s.rela.relas {
		i := sort.Search(len(gs), func(i int) bool { return gs[i].end > r.off })
		if i < len(gs) && r.off >= gs[i].start {
			byGroup[i] = append(byGroup[i], r)
		}
	}
	var data []byte
	var relas []*rela
	badJump, badCall := 0, 0
	moved := map[uint64]int64{} // .fixup: old group start -> shift
	for gi, g := range gs {
		rs := byGroup[gi]
		keep := false
		for _, r := range rs {
			if r.sym.isFunc() && r.sym.sec != nil && r.sym.sec.include {
				keep = true
				break
			}
		}
		if !keep {
			continue
		}
		if rule.Relocs > 0 && len(rs) != rule.Relocs {
			return d.refuse(refusal.SpecialFormat, s.Name, s.Name)
		}
		switch rule.Filter {
		case sections.JumpLabel:
			ok, bad, err := d.jumpLabelOK(s, g, rs)
			if err != nil {
				return err
			}
			if bad {
				badJump++
			}
			if !ok {
				continue
			}
		case sections.StaticCall:
			ok, bad, err := d.staticCallOK(s, g, rs)
			if err != nil {
				return err
			}
			if bad {
				badCall++
			}
			if !ok {
				continue
			}
		}
		newStart := uint64(len(data))
		if s.Type != elf.SHT_NOBITS {
			data = append(data, s.Data[g.start:g.end]...)
		}
		if rule.Grouping == sections.FixupGroups {
			moved[g.start] = int64(newStart) - int64(g.start)
		}
		for _, r := range rs {
			r.off = r.off - g.start + newStart
			r.sym.include = true
			if r.sym.why == "" {
				r.sym.why = "entry of special section " + s.Name
			}
			relas = append(relas, r)
		}
	}
	if badJump > 0 {
		return d.refuse(refusal.JumpLabels, s.Name, badJump)
	}
	if badCall > 0 {
		return d.refuse(refusal.StaticCalls, s.Name, badCall)
	}
	if rule.Grouping == sections.FixupGroups {
		d.fixupShift = moved
		d.fixupSec = s
	}
	if s.Name == "__ex_table" && d.fixupSec != nil {
		for _, r := range relas {
			if r.sym.sec == d.fixupSec {
				if shift, ok := d.fixupShiftFor(uint64(r.addend)); ok {
					r.addend += shift
				}
			}
		}
	}
	if len(relas) == 0 {
		s.status, s.include = Same, false
		s.rela.status, s.rela.include = Same, false
		return nil
	}
	d.debugf("regenerated special section %s: %d of %d bytes kept", s.Name, len(data), s.Size)
	if s.Type != elf.SHT_NOBITS {
		s.Data = data
	}
	s.Size = uint64(len(data))
	s.rela.relas = relas
	s.include, s.why = true, "special section"
	s.rela.include, s.rela.why = true, "special section"
	if s.secsym != nil {
		s.secsym.include = true
	}
	if rule.Companion != "" {
		if c := d.patched.section(rule.Companion); c != nil {
			d.includeSection(c, "companion of "+s.Name)
			for _, sym := range d.patched.bySec[c] {
				d.includeSymbol(sym, "companion of "+s.Name)
			}
		}
	}
	return nil
}

func (d *differ) fixupShiftFor(addend uint64) (int64, bool) {
	var best uint64
	found := false
	for start := range d.fixupShift {
		if start <= addend && (!found || start > best) {
			best, found = start, true
		}
	}
	if !found {
		return 0, false
	}
	return d.fixupShift[best], true
}

func relaAt(rs []*rela, off uint64) *rela {
	for _, r := range rs {
		if r.off == off {
			return r
		}
	}
	return nil
}

func isDyndbgKey(sym *symbol) bool {
	return sym.sec != nil && (sym.sec.Name == "__verbose" || sym.sec.Name == "__dyndbg")
}

// keyInModule reports whether a key symbol is defined in a module rather
// than in vmlinux, according to the parent symbol table.
func (d *differ) keyInModule(key *symbol) (bool, error) {
	if d.lookup == nil {
		return false, nil
	}
	res, ok, err := d.lookup.Find(key.Name, key.file)
	if err != nil {
		return false, d.refuseLookup(key.Name, err)
	}
	return ok && res.ObjName != "vmlinux", nil
}

func (d *differ) jumpLabelOK(s *section, g group, rs []*rela) (keep, bad bool, err error) {
	code, key := relaAt(rs, g.start), relaAt(rs, g.start+8)
	if code == nil || key == nil {
		return false, false, d.refuse(refusal.SpecialFormat, s.Name, s.Name)
	}
	tracepoint := strings.HasPrefix(key.sym.Name, "__tracepoint_")
	dyndbg := isDyndbgKey(key.sym)
	inMod, err := d.keyInModule(key.sym)
	if err != nil {
		return false, false, err
	}
	if inMod {
		if tracepoint || dyndbg {
			return false, false, nil
		}
		d.logf("Found a jump label at %s()+%#x, using key %s, which is defined in a module. Use static_key_enabled() instead.",
			code.sym.Name, code.addend, key.sym.Name)
		return false, true, nil
	}
	if dyndbg {
		d.includeSymbol(key.sym, "dynamic debug key of a kept jump label")
	}
	return true, false, nil
}

func (d *differ) staticCallOK(s *section, g group, rs []*rela) (keep, bad bool, err error) {
	site, key := relaAt(rs, g.start), relaAt(rs, g.start+4)
	if site == nil || key == nil {
		return false, false, d.refuse(refusal.SpecialFormat, s.Name, s.Name)
	}
	inMod, err := d.keyInModule(key.sym)
	if err != nil {
		return false, false, err
	}
	if inMod {
		if strings.HasPrefix(key.sym.Name, "__SCK__tp_func_") {
			return false, false, nil
		}
		d.logf("Found a static call at %s()+%#x, using key %s, which is defined in a module. Use KPATCH_STATIC_CALL() instead.",
			site.sym.Name, site.addend, key.sym.Name)
		return false, true, nil
	}
	return true, false, nil
}

// regenerateORC keeps the ORC entries of included functions.
func (d *differ) regenerateORC() error {
	orc := d.patched.section(sections.ORCUnwind)
	ip := d.patched.section(sections.ORCIP)
	if orc == nil || ip == nil || ip.rela == nil {
		return nil
	}
	v, ok := d.opts.getenv(sections.ORCSizeEnv)
	if !ok || v == "" {
		return nil // the reference silently skips ORC without its size
	}
	size, err := d.entrySize(sections.ORCSizeEnv)
	if err != nil {
		return err
	}
	if orc.Size%uint64(size) != 0 {
		return d.refuse(refusal.OrcSize, orc.Name)
	}
	n := orc.Size / uint64(size)
	if ip.Size != n*4 {
		return d.refuse(refusal.OrcMismatch, ip.Name)
	}
	var data []byte
	var relas []*rela
	for _, r := range ip.rela.relas {
		if !(r.sym.isFunc() && r.sym.sec != nil && r.sym.sec.include) {
			continue
		}
		idx := r.off / 4
		if idx >= n {
			return d.refuse(refusal.OrcReloc, ip.Name, r.off)
		}
		if orc.Type != elf.SHT_NOBITS {
			data = append(data, orc.Data[idx*uint64(size):(idx+1)*uint64(size)]...)
		}
		r.off = uint64(len(relas)) * 4
		r.sym.include = true
		relas = append(relas, r)
	}
	if len(relas) == 0 {
		orc.status, orc.include = Same, false
		ip.status, ip.include = Same, false
		ip.rela.status, ip.rela.include = Same, false
		if orc.rela != nil {
			orc.rela.status, orc.rela.include = Same, false
		}
		return nil
	}
	orc.Data = data
	orc.Size = uint64(len(data))
	orc.include, orc.why = true, "ORC unwind table"
	ip.Data = make([]byte, len(relas)*4)
	ip.Size = uint64(len(ip.Data))
	ip.rela.relas = relas
	ip.include, ip.rela.include = true, true
	ip.why = "ORC unwind table"
	if orc.secsym != nil {
		orc.secsym.include = true
	}
	if ip.secsym != nil {
		ip.secsym.include = true
	}
	return nil
}

// refuseRuntimeConsts refuses an included function that uses a runtime
// constant (sections.RuntimeConst): its section's entries point into the
// function's code, at an immediate only vmlinux's boot code fills in.
func (d *differ) refuseRuntimeConsts() error {
	for _, s := range d.patched.secs {
		if s.isRela() || s.rela == nil {
			continue
		}
		constant, ok := sections.RuntimeConstant(s.Name)
		if !ok {
			continue
		}
		for _, r := range s.rela.relas {
			sec := r.sym.sec
			if sec == nil || !sec.include || !sec.isText() {
				continue
			}
			fn := d.functionAt(sec, uint64(int64(r.sym.Value)+r.addend))
			return d.refuse(refusal.RuntimeConst, fn, fn, constant, s.Name)
		}
	}
	return nil
}

// functionAt names the function of sec that holds offset off (the
// section's name if none does).
func (d *differ) functionAt(sec *section, off uint64) string {
	for _, sym := range d.patched.bySec[sec] {
		if sym.isFunc() && !sym.isPfx && sym.Value <= off && off < sym.Value+sym.Size {
			return sym.Name
		}
	}
	return sec.Name
}
