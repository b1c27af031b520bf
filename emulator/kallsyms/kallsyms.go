package kallsyms

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// Kind says what a symbol names.
type Kind uint8

// Symbol kinds.
const (
	Func Kind = iota
	Object
	NoType
)

// Symbol is one kallsyms entry.
type Symbol struct {
	// Name is the symbol's name.
	Name string
	// Addr is its run-time address; Size its size in bytes (0 if the
	// ELF symbol has no size).
	Addr, Size uint64
	// Kind is function, object or untyped.
	Kind Kind
	// Global is true for global and weak symbols.
	Global bool
	// Object is "vmlinux" or the module's name.
	Object string
	// Pos is the 1-based position of this symbol among the symbols of
	// Object with the same name (the sympos).
	Pos int
}

// String formats the symbol as "name [object] sympos N".
func (s *Symbol) String() string {
	return fmt.Sprintf("%s [%s] sympos %d", s.Name, s.Object, s.Pos)
}

// Table holds the symbols of every loaded object.
type Table struct {
	objects []string
	byObj   map[string][]*Symbol
	sorted  []*Symbol // all sized-or-not symbols by address, for Lookup
}

// New returns an empty table.
func New() *Table { return &Table{byObj: make(map[string][]*Symbol)} }

// FromELF converts the symbols of an ELF file into kallsyms entries for
// object obj. addr maps a defined symbol to its run-time address; it
// returns false to leave the symbol out (for example, a symbol of a
// section that is not loaded). File, section and undefined symbols are
// always left out, as are absolute ones.
func FromELF(obj string, syms []elf.Symbol, addr func(s elf.Symbol) (uint64, bool)) []*Symbol {
	var out []*Symbol
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if s.Name == "" || typ == elf.STT_FILE || typ == elf.STT_SECTION {
			continue
		}
		if s.Section == elf.SHN_UNDEF || s.Section == elf.SHN_ABS || s.Section == elf.SHN_COMMON {
			continue
		}
		if strings.HasPrefix(s.Name, ".L") {
			continue
		}
		a, ok := addr(s)
		if !ok {
			continue
		}
		k := NoType
		switch typ {
		case elf.STT_FUNC:
			k = Func
		case elf.STT_OBJECT, elf.STT_TLS:
			k = Object
		}
		b := elf.ST_BIND(s.Info)
		out = append(out, &Symbol{Name: s.Name, Addr: a, Size: s.Size, Kind: k,
			Global: b == elf.STB_GLOBAL || b == elf.STB_WEAK, Object: obj})
	}
	return out
}

// Add registers the symbols of object obj (in link order) and numbers
// duplicate names. It fails if obj is already present.
func (t *Table) Add(obj string, syms []*Symbol) error {
	if _, ok := t.byObj[obj]; ok {
		return fmt.Errorf("kallsyms: object %s already loaded", obj)
	}
	// Duplicate names are numbered in address order, the order of Linux's
	// kallsyms table, in which the livepatch core counts sympos.
	byAddr := append([]*Symbol(nil), syms...)
	sort.SliceStable(byAddr, func(i, j int) bool { return byAddr[i].Addr < byAddr[j].Addr })
	count := make(map[string]int)
	for _, s := range byAddr {
		s.Object = obj
		count[s.Name]++
		s.Pos = count[s.Name]
	}
	t.objects = append(t.objects, obj)
	t.byObj[obj] = syms
	t.rebuild()
	return nil
}

// Remove drops every symbol of obj.
func (t *Table) Remove(obj string) {
	if _, ok := t.byObj[obj]; !ok {
		return
	}
	delete(t.byObj, obj)
	for i, o := range t.objects {
		if o == obj {
			t.objects = append(t.objects[:i], t.objects[i+1:]...)
			break
		}
	}
	t.rebuild()
}

func (t *Table) rebuild() {
	t.sorted = t.sorted[:0]
	for _, o := range t.objects {
		t.sorted = append(t.sorted, t.byObj[o]...)
	}
	sort.SliceStable(t.sorted, func(i, j int) bool {
		a, b := t.sorted[i], t.sorted[j]
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		// Prefer functions, then sized symbols, at the same address.
		if (a.Kind == Func) != (b.Kind == Func) {
			return a.Kind == Func
		}
		return a.Size > b.Size
	})
}

// Objects lists the loaded objects, vmlinux first, in load order.
func (t *Table) Objects() []string { return append([]string(nil), t.objects...) }

// Symbols returns the symbols of obj in link order.
func (t *Table) Symbols(obj string) []*Symbol { return t.byObj[obj] }

// All calls fn for every symbol, object by object in load order and in
// link order within an object, as kallsyms_on_each_symbol does; it stops
// when fn returns false.
func (t *Table) All(fn func(*Symbol) bool) {
	for _, o := range t.objects {
		for _, s := range t.byObj[o] {
			if !fn(s) {
				return
			}
		}
	}
}

// Find returns the symbol name of object obj at position sympos. sympos 0
// means the name must be unique in obj. obj "" searches vmlinux.
func (t *Table) Find(obj, name string, sympos int) (*Symbol, error) {
	if obj == "" {
		obj = "vmlinux"
	}
	syms, ok := t.byObj[obj]
	if !ok {
		return nil, fmt.Errorf("kallsyms: object %s not loaded", obj)
	}
	var match []*Symbol
	for _, s := range syms {
		if s.Name == name {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 0:
		return nil, fmt.Errorf("kallsyms: symbol %s not found in %s", name, obj)
	case sympos == 0 && len(match) > 1:
		return nil, fmt.Errorf("kallsyms: symbol %s is not unique in %s (%d copies): a sympos is needed", name, obj, len(match))
	case sympos == 0:
		return match[0], nil
	}
	for _, s := range match {
		if s.Pos == sympos {
			return s, nil
		}
	}
	return nil, fmt.Errorf("kallsyms: symbol %s sympos %d not found in %s (%d copies)", name, sympos, obj, len(match))
}

// Lookup returns the symbol an address belongs to, preferring functions
// and sized symbols. A symbol without an ELF size extends to the next
// symbol's address. off is addr's offset in it and size its extent.
func (t *Table) Lookup(addr uint64) (s *Symbol, off, size uint64, ok bool) {
	i := sort.Search(len(t.sorted), func(i int) bool { return t.sorted[i].Addr > addr })
	next := uint64(0) // the next higher symbol address
	if i < len(t.sorted) {
		next = t.sorted[i].Addr
	}
	for groups := 0; i > 0 && groups < 16; groups++ {
		a := t.sorted[i-1].Addr
		lo := i - 1
		for lo > 0 && t.sorted[lo-1].Addr == a {
			lo--
		}
		for j := lo; j < i; j++ {
			c := t.sorted[j]
			sz := c.Size
			if sz == 0 && c.Kind != Object && next != 0 {
				sz = next - a
			}
			if addr < a+sz {
				return c, addr - a, sz, true
			}
		}
		next = a
		i = lo
	}
	return nil, 0, 0, false
}

// Format symbolizes addr as Linux prints a stack entry:
// "func+0xoff/0xsize", with " [module]" for module symbols, or the bare
// address when no symbol contains it.
func (t *Table) Format(addr uint64) string {
	s, off, size, ok := t.Lookup(addr)
	if !ok {
		return fmt.Sprintf("0x%x", addr)
	}
	str := fmt.Sprintf("%s+0x%x/0x%x", s.Name, off, size)
	if s.Object != "vmlinux" {
		str += " [" + s.Object + "]"
	}
	return str
}

// FormatReturn symbolizes a return address as Linux's %pB does: the
// symbol is the one containing addr-1 (a call at the very end of a
// function returns to the next one), the offset is from that symbol.
func (t *Table) FormatReturn(addr uint64) string {
	s, _, size, ok := t.Lookup(addr - 1)
	if !ok {
		return fmt.Sprintf("0x%x", addr)
	}
	str := fmt.Sprintf("%s+0x%x/0x%x", s.Name, addr-s.Addr, size)
	if s.Object != "vmlinux" {
		str += " [" + s.Object + "]"
	}
	return str
}
