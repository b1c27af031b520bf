package elfdiff

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// correlate pairs the sections and symbols of ORIG and PATCHED. Pairing is
// greedy first-match in table order among mangled-equal names, like the
// reference; candidates are bucketed by name key so the cost is linear.
func (d *differ) correlate() error {
	d.correlateSections()
	d.correlateSymbols()
	if err := d.readIgnoredStatics(); err != nil {
		return err
	}
	return d.correlateStaticLocals()
}

func (d *differ) rename(p *symbol, name string) {
	if p.Name != name {
		p.Name = name
	}
}

func (d *differ) twinSymbols(o, p *symbol) {
	o.twin, p.twin = p, o
	p.file = o.file
	if p.Type != elf.STT_SECTION {
		d.rename(p, o.Name)
	}
}

func (d *differ) twinSections(o, p *section) {
	o.twin, p.twin = p, o
	if p.Name != o.Name {
		p.Name = o.Name
		if p.secsym != nil {
			p.secsym.Name = o.Name
		}
	}
	if o.secsym != nil && p.secsym != nil {
		o.secsym.twin, p.secsym.twin = p.secsym, o.secsym
	}
	if o.rela != nil && p.rela != nil && o.rela.twin == nil && p.rela.twin == nil {
		d.twinSections(o.rela, p.rela)
	}
	if o.base != nil && p.base != nil && o.base.twin == nil && p.base.twin == nil {
		d.twinSections(o.base, p.base)
	}
	if o.bundled != nil && p.bundled != nil && o.bundled.twin == nil && p.bundled.twin == nil {
		d.twinSymbols(o.bundled, p.bundled)
	}
}

func (d *differ) untwinSections(o *section) {
	p := o.twin
	if p == nil {
		return
	}
	o.twin, p.twin = nil, nil
	p.Name = p.origName
	if p.secsym != nil {
		p.secsym.Name = p.origName
	}
	if o.secsym != nil && o.secsym.twin != nil {
		o.secsym.twin.twin, o.secsym.twin = nil, nil
	}
	if o.rela != nil && o.rela.twin != nil {
		pr := o.rela.twin
		pr.Name = pr.origName
		pr.twin, o.rela.twin = nil, nil
	}
}

func sectionSpecial(s *section) bool {
	ss := s.secsym
	if s.isRela() && s.base != nil {
		ss = s.base.secsym
		if ss == nil && s.base.bundled != nil {
			return isSpecialStatic(s.base.bundled)
		}
	}
	if ss == nil && s.bundled != nil {
		return isSpecialStatic(s.bundled)
	}
	return isSpecialStatic(ss)
}

// bucket holds the candidates of one name key in table order; head skips
// the leading candidates already paired, so that pairing many elements
// that differ only in numbers (static locals, __UNIQUE_ID_, .cold.N) is
// linear rather than quadratic.
type bucket[T any] struct {
	items  []T
	head   int
	paired func(T) bool
}

// makeBuckets groups the PATCHED candidates by name key, in table order,
// leaving out those that are never correlated.
func makeBuckets[T any](items []T, name func(T) string, paired, never func(T) bool) map[string]*bucket[T] {
	buckets := map[string]*bucket[T]{}
	for _, it := range items {
		if never(it) {
			continue
		}
		k := nameKey(name(it))
		b := buckets[k]
		if b == nil {
			b = &bucket[T]{paired: paired}
			buckets[k] = b
		}
		b.items = append(b.items, it)
	}
	return buckets
}

// each calls fn on the unpaired candidates in order until it returns true.
func (b *bucket[T]) each(fn func(T) bool) {
	for b.head < len(b.items) && b.paired(b.items[b.head]) {
		b.head++
	}
	for _, it := range b.items[b.head:] {
		if !b.paired(it) && fn(it) {
			return
		}
	}
}

func (d *differ) correlateSections() {
	buckets := makeBuckets(d.patched.secs, func(s *section) string { return s.Name },
		func(s *section) bool { return s.twin != nil },
		func(s *section) bool { return isUBSAN(s.Name) || isClangUnnamed(s.Name) || sectionSpecial(s) })
	for _, o := range d.orig.secs {
		if o.twin != nil || isUBSAN(o.Name) || isClangUnnamed(o.Name) || sectionSpecial(o) {
			continue
		}
		b := buckets[nameKey(o.Name)]
		if b == nil {
			continue
		}
		b.each(func(p *section) bool {
			if !mangledEqual(o.Name, p.Name) {
				return false
			}
			if o.Type == elf.SHT_GROUP && (p.Type != elf.SHT_GROUP || !d.sameGroup(o, p)) {
				return false
			}
			d.twinSections(o, p)
			return true
		})
	}
}

func (d *differ) correlateSymbols() {
	buckets := makeBuckets(d.patched.syms, func(s *symbol) string { return s.Name },
		func(s *symbol) bool { return s.twin != nil }, isSpecialStatic)
	for _, o := range d.orig.syms {
		if o.twin != nil || isUBSAN(o.Name) || isSpecialStatic(o) {
			continue
		}
		if o.Type == elf.STT_NOTYPE && (strings.HasPrefix(o.Name, ".LC") || d.arch.IsMapping(o.Name)) {
			continue
		}
		b := buckets[nameKey(o.Name)]
		if b == nil {
			continue
		}
		b.each(func(p *symbol) bool {
			if p.Type != o.Type || !mangledEqual(o.Name, p.Name) {
				return false
			}
			if o.sec != nil && o.sec.Type == elf.SHT_GROUP && o.sec.twin != p.sec {
				return false
			}
			d.twinSymbols(o, p)
			return true
		})
	}
}

// isNormalStaticLocal reports whether sym is a function-local static
// variable with gcc's numbered suffix that is not a special static.
func isNormalStaticLocal(sym *symbol) bool {
	return sym.Type == elf.STT_OBJECT && sym.Bind == elf.STB_LOCAL &&
		strings.Contains(sym.Name, ".") && !strings.HasPrefix(sym.Name, ".L") && !isSpecialStatic(sym)
}

// relaOwner returns the function a relocation section belongs to: its base
// section's bundled symbol.
func relaOwner(rs *section) *symbol {
	if rs.base == nil {
		return nil
	}
	return rs.base.bundled
}

// correlatedAncestorRela walks up from an uncorrelated subfunction's rela
// section to the nearest correlated ancestor's twin rela section.
func correlatedTwinRela(rs *section) *section {
	if rs.twin != nil {
		return rs.twin
	}
	f := relaOwner(rs)
	for f != nil && f.parent != nil {
		f = f.parent
		if f.sec != nil && f.sec.rela != nil && f.sec.rela.twin != nil {
			return f.sec.rela.twin
		}
	}
	return nil
}

// findStaticRef looks in rs and, recursively, in the rela sections of its
// function's children, for a relocation to an uncorrelated PATCHED symbol
// that can be the twin of the ORIG static local o.
func findStaticRef(rs *section, o *symbol) *symbol {
	return findStaticRefIn(rs, o, map[*section]bool{})
}

func findStaticRefIn(rs *section, o *symbol, seen map[*section]bool) *symbol {
	if rs == nil || seen[rs] {
		return nil // a malformed object can make a function its own child
	}
	seen[rs] = true
	for _, r := range rs.relas {
		t := r.target()
		if t == nil {
			continue // a .toc constant
		}
		s := t.sym
		if s.twin != nil || s.Type != o.Type || s.Bind != o.Bind {
			continue
		}
		if s.Type == elf.STT_OBJECT && s.Size != o.Size {
			continue
		}
		if !mangledEqual(o.Name, s.Name) {
			continue
		}
		return s
	}
	if f := relaOwner(rs); f != nil {
		for _, c := range f.children {
			if c.sec != nil {
				if s := findStaticRefIn(c.sec.rela, o, seen); s != nil {
					return s
				}
			}
		}
	}
	return nil
}

// hasStaticRef reports whether rs, or the rela section of a child of its
// function, references sym.
func hasStaticRef(rs *section, sym *symbol) bool {
	return hasStaticRefIn(rs, sym, map[*section]bool{})
}

func hasStaticRefIn(rs *section, sym *symbol, seen map[*section]bool) bool {
	if rs == nil || seen[rs] {
		return false
	}
	seen[rs] = true
	for _, r := range rs.relas {
		if r.sym == sym {
			return true
		}
	}
	if f := relaOwner(rs); f != nil {
		for _, c := range f.children {
			if c.sec != nil && hasStaticRefIn(c.sec.rela, sym, seen) {
				return true
			}
		}
	}
	return false
}

func (d *differ) correlateStaticLocals() error {
	// 1. Forget name-based pairings of static locals.
	for _, o := range d.orig.syms {
		if !isNormalStaticLocal(o) || o.twin == nil {
			continue
		}
		p := o.twin
		o.twin, p.twin = nil, nil
		p.Name = p.origName
		if b := o.sec; b != nil && b.bundled == o {
			d.untwinSections(b)
		}
	}
	// 2. Pair them by use.
	for _, rs := range d.orig.secs {
		if !rs.isRela() || rs.isDebug() || rs.Name == ".rela.toc" {
			continue
		}
		for _, r := range rs.relas {
			t := r.target()
			if t == nil {
				continue // a .toc constant
			}
			o := t.sym
			if !isNormalStaticLocal(o) || o.twin != nil {
				continue
			}
			if o.sec != nil && o.sec.bundled == o && rs.base == o.sec {
				continue // a variable's reference to itself
			}
			prs := correlatedTwinRela(rs)
			if prs == nil {
				continue
			}
			p := findStaticRef(prs, o)
			if p == nil {
				owner := rs.base.Name
				if f := relaOwner(rs); f != nil {
					owner = f.Name
				}
				if d.staticIgnored(o, owner) {
					continue
				}
				return d.refuse(refusal.StaticLocalRemoved, o.Name, o.Name, owner)
			}
			ob := o.sec != nil && o.sec.bundled == o
			pb := p.sec != nil && p.sec.bundled == p
			if ob != pb {
				return d.refuse(refusal.BundleMismatch, o.Name, o.Name)
			}
			if !ob && o.sec != nil && o.sec.twin != p.sec {
				return d.refuse(refusal.SectionsNotCorrelated, o.Name, o.sec.Name, p.sec.Name, o.Name)
			}
			d.twinSymbols(o, p)
			if ob {
				d.twinSections(o.sec, p.sec)
			}
		}
	}
	// 3. Every ORIG reference must still be there in PATCHED.
	for _, rs := range d.orig.secs {
		if !rs.isRela() || rs.isDebug() || rs.Name == ".rela.toc" {
			continue
		}
		for _, r := range rs.relas {
			o := r.sym
			if !isNormalStaticLocal(o) {
				continue
			}
			if o.sec != nil && o.sec.bundled == o && rs.base == o.sec {
				continue
			}
			prs := correlatedTwinRela(rs)
			if prs == nil {
				continue
			}
			owner := rs.base.Name
			if f := relaOwner(rs); f != nil {
				owner = f.Name
			}
			if o.twin == nil {
				if d.staticIgnored(o, owner) {
					continue
				}
				return d.refuse(refusal.StaticLocalRemoved, o.Name, o.Name, owner)
			}
			if !hasStaticRef(prs, o.twin) {
				if d.staticIgnored(o, owner) {
					continue
				}
				return d.refuse(refusal.StaticLocalUnreferenced, o.Name, o.Name, o.twin.Name, owner)
			}
		}
	}
	// 4. Warn about the first new static local the patched code uses.
	for _, rs := range d.patched.secs {
		if !rs.isRela() || rs.isDebug() || rs.Name == ".rela.toc" {
			continue
		}
		for _, r := range rs.relas {
			p := r.sym
			if isNormalStaticLocal(p) && p.twin == nil {
				owner := rs.base.Name
				if f := relaOwner(rs); f != nil {
					owner = f.Name
				}
				d.warnf("unable to correlate static local variable %s used by %s, assuming variable is new", p.Name, owner)
				return nil
			}
		}
	}
	return nil
}

// sameGroup reports whether two section groups are the same: the same
// flags and the same member sections, by name. A group's data holds its
// members' section indices, which shift when another section is added
// before them (s390x's expoline thunks sit in COMDAT groups in every
// object); the bytes equal when nothing moved.
func (d *differ) sameGroup(o, p *section) bool {
	if bytes.Equal(o.Data, p.Data) {
		return true
	}
	on, ok1 := groupMembers(d.orig, o)
	pn, ok2 := groupMembers(d.patched, p)
	if !ok1 || !ok2 || len(on) != len(pn) {
		return false
	}
	for i := range on {
		if on[i] != pn[i] {
			return false
		}
	}
	return true
}

// groupMembers returns a group's flag word and member section names.
func groupMembers(obj *object, g *section) ([]string, bool) {
	if len(g.Data)%4 != 0 || len(g.Data) == 0 {
		return nil, false
	}
	bo := kpatchfmt.ByteOrder(obj.file.Data)
	byIndex := map[int]string{}
	for _, s := range obj.secs {
		byIndex[s.Index] = s.Name
	}
	out := []string{fmt.Sprint(bo.Uint32(g.Data))}
	for off := 4; off < len(g.Data); off += 4 {
		n, ok := byIndex[int(bo.Uint32(g.Data[off:]))]
		if !ok {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}
