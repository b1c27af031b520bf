package proof

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// LayoutChange is a struct or union whose layout differs between the
// original and the patched object: the running kernel's unchanged code
// and the instances it already made keep the old layout, so replaced
// functions using the new one would corrupt memory.
type LayoutChange struct {
	Object string // the object, as the user reads it
	Type   string // "struct eventfd_ctx"
	// What describes the first difference: a member that moved, appeared
	// or disappeared, or the size.
	What string
}

func (c *LayoutChange) Error() string {
	return fmt.Sprintf("%s: %s changes its layout (%s)", c.Object, c.Type, c.What)
}

// layout is one definition of a struct or union: its size and members.
type layout struct {
	size    int64
	members []member
}

type member struct {
	name   string
	offset int64
	size   int64 // the member type's size, -1 when unknown
}

// signature is a comparable form of a layout.
func (l layout) signature() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", l.size)
	for _, m := range l.members {
		fmt.Fprintf(&b, ";%s@%d:%d", m.name, m.offset, m.size)
	}
	return b.String()
}

// Layouts compares the structs and unions defined in the debug info of
// the original and the patched object. A named type whose definitions
// differ is a *LayoutChange; named types only the patched object defines
// (used by new code only) are returned as added, sorted. Objects without
// debug info have nothing to compare.
func Layouts(name, origPath, patchedPath string) (added []string, err error) {
	orig, err := readLayouts(origPath)
	if err != nil {
		return nil, err
	}
	patched, err := readLayouts(patchedPath)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range orig {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, ok := patched[n]
		if !ok {
			continue // no longer used by this object: nothing of it changes
		}
		if c := compareLayouts(orig[n], p); c != "" {
			return nil, &LayoutChange{Object: name, Type: n, What: c}
		}
	}
	for n := range patched {
		if _, ok := orig[n]; !ok {
			added = append(added, n)
		}
	}
	sort.Strings(added)
	return added, nil
}

// compareLayouts describes the first difference between two sets of
// definitions of one type name ("" when they are the same set).
func compareLayouts(orig, patched []layout) string {
	seen := map[string]bool{}
	for _, l := range patched {
		seen[l.signature()] = true
	}
	for _, o := range orig {
		if seen[o.signature()] {
			continue
		}
		// The patched definition nearest to it: the one of the most
		// common members.
		best, score := patched[0], -1
		for _, p := range patched {
			s := 0
			for _, m := range p.members {
				for _, om := range o.members {
					if om.name == m.name {
						s++
					}
				}
			}
			if s > score {
				best, score = p, s
			}
		}
		return describeChange(o, best)
	}
	return ""
}

// describeChange names the first member that moved, changed size,
// appeared or disappeared, else the size.
func describeChange(o, p layout) string {
	pm := map[string]member{}
	for _, m := range p.members {
		pm[m.name] = m
	}
	om := map[string]bool{}
	for _, m := range o.members {
		om[m.name] = true
	}
	var what []string
	for _, m := range p.members {
		if !om[m.name] {
			what = append(what, fmt.Sprintf("member %s added at offset %d", m.name, m.offset))
			break
		}
	}
	for _, m := range o.members {
		q, ok := pm[m.name]
		switch {
		case !ok:
			what = append(what, fmt.Sprintf("member %s removed", m.name))
		case q.offset != m.offset:
			what = append(what, fmt.Sprintf("member %s moves from offset %d to %d", m.name, m.offset, q.offset))
		case q.size != m.size:
			what = append(what, fmt.Sprintf("member %s changes size from %d to %d bytes", m.name, m.size, q.size))
		default:
			continue
		}
		break
	}
	if o.size != p.size {
		what = append(what, fmt.Sprintf("size %d becomes %d", o.size, p.size))
	}
	return strings.Join(what, "; ")
}

// readLayouts reads the named struct and union definitions of an
// object's debug info, by "struct NAME" / "union NAME".
func readLayouts(path string) (map[string][]layout, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("debug info of %s: %w", path, err)
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return nil, nil
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("debug info of %s: %w", path, err)
	}
	out := map[string][]layout{}
	seen := map[string]map[string]bool{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("debug info of %s: %w", path, err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType && e.Tag != dwarf.TagUnionType {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); name == "" || decl || !e.Children {
			continue
		}
		kind := "struct "
		if e.Tag == dwarf.TagUnionType {
			kind = "union "
		}
		size, _ := e.Val(dwarf.AttrByteSize).(int64)
		l := layout{size: size}
		for {
			c, err := r.Next()
			if err != nil {
				return nil, fmt.Errorf("debug info of %s: %w", path, err)
			}
			if c == nil || c.Tag == 0 {
				break
			}
			if c.Tag != dwarf.TagMember {
				if c.Children {
					r.SkipChildren()
				}
				continue
			}
			m := member{size: -1}
			m.name, _ = c.Val(dwarf.AttrName).(string)
			if off, ok := c.Val(dwarf.AttrDataMemberLoc).(int64); ok {
				m.offset = off
			}
			if bits, ok := c.Val(dwarf.AttrDataBitOffset).(int64); ok {
				m.offset = bits // bit-fields: in bits, compared alike
			}
			if t, ok := c.Val(dwarf.AttrType).(dwarf.Offset); ok {
				if typ, err := d.Type(t); err == nil {
					m.size = typ.Size()
				}
			}
			l.members = append(l.members, m)
		}
		key := kind + name
		sig := l.signature()
		if seen[key] == nil {
			seen[key] = map[string]bool{}
		}
		if !seen[key][sig] {
			seen[key][sig] = true
			out[key] = append(out[key], l)
		}
	}
	return out, nil
}
