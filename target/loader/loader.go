package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/target/ftrace"
	"github.com/kpatchgo/kpatch-build/target/kallsyms"
	"github.com/kpatchgo/kpatch-build/target/machine"
	"github.com/kpatchgo/kpatch-build/target/mem"
)

// SHFRelaLivepatch marks a livepatch relocation section.
const SHFRelaLivepatch = 0x00100000

// Export is an exported symbol.
type Export struct {
	Name  string
	Addr  uint64
	GPL   bool
	Owner string // "vmlinux" or the module name
}

// KlpRela is a livepatch relocation section of a module, left for the
// livepatch core.
type KlpRela struct {
	// Name is the section name (.klp.rela.OBJ.SECTION).
	Name string
	// Target is the address of the section the relocations apply to.
	Target uint64
	// Relas are the relocations; Sym indexes Symbols.
	Relas []elf.Rela64
}

// Module is a loaded module.
type Module struct {
	// Name is the module's name (from .modinfo name=, else the file's).
	Name string
	// Base and Size are the module's extent in the module area.
	Base, Size uint64
	// Sections maps each allocated section name to its address.
	Sections map[string]uint64
	// Init and Exit are init_module and cleanup_module (0 if absent).
	Init, Exit uint64
	// Info holds the .modinfo key=value pairs.
	Info map[string]string
	// Symbols are the module's ELF symbols (index 0 is the null symbol)
	// with their run-time addresses in Value where defined.
	Symbols []elf.Symbol
	// KlpRelas are the .klp.rela sections, not applied by the loader.
	KlpRelas []KlpRela

	exports []Export
	mcount  []uint64
	regions [][2]uint64
}

// Loader loads and unloads modules into a machine.
type Loader struct {
	m       *machine.Machine
	ft      *ftrace.Ftrace
	exports map[string]Export
	mods    []*Module
	// InitLimit bounds the virtual time an init or exit function may take.
	InitLimit uint64
	// Alternatives, if set, applies the .altinstructions entries in
	// [start, end) of a module being loaded, as the kernel does at boot
	// (Linux: module_finalize -> apply_alternatives).
	Alternatives func(start, end uint64) error
	// Coming, if set, is called for a module once it is laid out,
	// relocated and registered, before its init function runs (where
	// Linux calls klp_module_coming); an error refuses the module.
	Coming func(mod *Module) error
	// Removable, if set, is asked before a module is unloaded; an error
	// refuses the unload (Linux: the module is in use, e.g. a live patch
	// still enabled or forced).
	Removable func(mod *Module) error
	// Going, if set, is called when a module goes away: after its
	// cleanup_module ran and before its ftrace sites are released, as
	// Linux calls klp_module_going (patches of the module are undone).
	// It is also called when a module's init fails after Coming
	// succeeded. Its error is reported but the module is gone.
	Going func(mod *Module) error
}

// SHNLivepatch is the st_shndx of the .klp.sym symbols of a live patch:
// the livepatch core resolves them, not the loader.
const SHNLivepatch = 0xff20

// New returns a loader for m; vmlinuxExports are the kernel's exported
// symbols (its __ksymtab and __ksymtab_gpl).
func New(m *machine.Machine, ft *ftrace.Ftrace, vmlinuxExports []Export) *Loader {
	l := &Loader{m: m, ft: ft, exports: make(map[string]Export), InitLimit: 100_000_000}
	for _, e := range vmlinuxExports {
		l.exports[e.Name] = e
	}
	return l
}

// Exports returns the exported symbols currently known, sorted by name.
func (l *Loader) Exports() []Export {
	var out []Export
	for _, e := range l.exports {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Modules returns the loaded modules in load order.
func (l *Loader) Modules() []*Module { return append([]*Module(nil), l.mods...) }

// Module returns the loaded module name, or nil.
func (l *Loader) Module(name string) *Module {
	for _, m := range l.mods {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// SymbolAddr resolves an exported symbol, as the loader does for
// undefined symbols.
func (l *Loader) SymbolAddr(name string) (uint64, bool) {
	e, ok := l.exports[name]
	return e.Addr, ok
}

type sec struct {
	idx  int
	s    *elf.Section
	addr uint64
	data []byte
}

// Load loads a module from the bytes of its .ko. fallbackName names it if
// it has no .modinfo name.
func (l *Loader) Load(data []byte, fallbackName string) (mod *Module, err error) {
	name := fallbackName
	fail := func(format string, args ...any) (*Module, error) {
		return nil, fmt.Errorf("module %s: %s", name, fmt.Sprintf(format, args...))
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fail("not a valid ELF object: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_REL {
		return fail("not an x86-64 relocatable object (%v %v %v)", f.Class, f.Machine, f.Type)
	}
	// Read every section first: a truncated file fails here.
	secs := make([]*sec, len(f.Sections))
	for i, s := range f.Sections {
		sc := &sec{idx: i, s: s}
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL {
			if s.Offset+s.FileSize > uint64(len(data)) || s.Offset+s.FileSize < s.Offset {
				return fail("section %s: truncated (needs bytes %d..%d of %d)", s.Name, s.Offset, s.Offset+s.FileSize, len(data))
			}
			if sc.data, err = s.Data(); err != nil {
				return fail("section %s: %v", s.Name, err)
			}
		}
		secs[i] = sc
	}
	info := map[string]string{}
	if s := f.Section(".modinfo"); s != nil {
		for _, kv := range strings.Split(string(secs[sectionIndex(f, s)].data), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				info[k] = v
			}
		}
	}
	// Like Linux (ENOEXEC, "No module found in object"), a plain
	// relocatable object is not a module: one needs its module
	// information (.modinfo with name=, which the bundled kernel's modules
	// carry) or Linux's struct module (.gnu.linkonce.this_module).
	if info["name"] == "" && f.Section(".gnu.linkonce.this_module") == nil {
		if f.Section(".modinfo") == nil {
			return fail("not a kernel module: no .modinfo section and no .gnu.linkonce.this_module (a plain relocatable object?)")
		}
		return fail("not a kernel module: .modinfo has no name= and there is no .gnu.linkonce.this_module")
	}
	if n := info["name"]; n != "" {
		name = n
	}
	if name == "" {
		return fail("no name")
	}
	if l.Module(name) != nil {
		return fail("already loaded")
	}
	syms, err := f.Symbols()
	if err != nil {
		return fail("symbol table: %v", err)
	}
	syms = append([]elf.Symbol{{}}, syms...)

	// Layout: text, read-only data and writable data, each page aligned.
	var groups [3][]*sec
	for _, sc := range secs {
		s := sc.s
		if s.Flags&elf.SHF_ALLOC == 0 || s.Size == 0 {
			continue
		}
		g := 1
		switch {
		case s.Flags&elf.SHF_EXECINSTR != 0:
			g = 0
		case s.Flags&elf.SHF_WRITE != 0:
			g = 2
		}
		groups[g] = append(groups[g], sc)
	}
	var sizes [3]uint64
	for g := range groups {
		off := uint64(0)
		for _, sc := range groups[g] {
			al := max(sc.s.Addralign, 1)
			off = (off + al - 1) / al * al
			sc.addr = off // relative for now
			off += sc.s.Size
		}
		sizes[g] = (off + mem.PageMask) &^ uint64(mem.PageMask)
	}
	total := sizes[0] + sizes[1] + sizes[2]
	if total == 0 {
		return fail("no allocatable sections")
	}
	base, err := l.m.AllocModule(total)
	if err != nil {
		return fail("%v", err)
	}
	mod = &Module{Name: name, Base: base, Size: total, Sections: map[string]uint64{}, Info: info}
	partial := mod
	// From here on, undo everything on failure.
	defer func() {
		if err != nil {
			l.teardown(partial)
			mod = nil
		}
	}()
	perms := [3]mem.Perm{mem.PermRX, mem.PermRead, mem.PermRW}
	start := base
	for g := range groups {
		if sizes[g] == 0 {
			continue
		}
		// Mapped writable while being filled; final permissions below.
		if err := l.m.Mem.Map(start, sizes[g], mem.PermRW); err != nil {
			return fail("%v", err)
		}
		mod.regions = append(mod.regions, [2]uint64{start, sizes[g]})
		for _, sc := range groups[g] {
			sc.addr += start
			mod.Sections[sc.s.Name] = sc.addr
			if sc.s.Type != elf.SHT_NOBITS {
				if err := l.m.Mem.Poke(sc.addr, sc.data); err != nil {
					return fail("section %s: %v", sc.s.Name, err)
				}
			}
		}
		start += sizes[g]
	}

	// Symbols.
	for i := 1; i < len(syms); i++ {
		s := &syms[i]
		switch {
		case s.Section == elf.SHN_UNDEF:
			if s.Name == "" {
				continue
			}
			e, ok := l.exports[s.Name]
			if !ok {
				if elf.ST_BIND(s.Info) == elf.STB_WEAK {
					s.Value = 0
					continue
				}
				if _, _, _, present := l.lookupAny(s.Name); present {
					return fail("unknown symbol %s (defined in vmlinux but not exported)", s.Name)
				}
				return fail("unknown symbol %s", s.Name)
			}
			s.Value = e.Addr
		case s.Section == elf.SHN_ABS:
		case s.Section == SHNLivepatch:
			// A .klp.sym symbol: resolved by the livepatch core.
		case s.Section == elf.SHN_COMMON:
			return fail("symbol %s: common symbols are not supported (build with -fno-common)", s.Name)
		case int(s.Section) < len(secs):
			sc := secs[s.Section]
			if sc.addr == 0 && sc.s.Flags&elf.SHF_ALLOC != 0 && sc.s.Size != 0 {
				return fail("symbol %s: section %s not laid out", s.Name, sc.s.Name)
			}
			if sc.s.Flags&elf.SHF_ALLOC != 0 {
				s.Value += sc.addr
			}
		default:
			return fail("symbol %s: bad section index %d", s.Name, s.Section)
		}
	}
	mod.Symbols = syms

	// Relocations.
	for _, sc := range secs {
		s := sc.s
		if s.Type == elf.SHT_REL {
			return fail("section %s: SHT_REL relocations are not supported on x86-64", s.Name)
		}
		if s.Type != elf.SHT_RELA {
			continue
		}
		if int(s.Info) >= len(secs) {
			return fail("section %s: bad target section %d", s.Name, s.Info)
		}
		tgt := secs[s.Info]
		if tgt.s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		relas, err := parseRelas(sc.data)
		if err != nil {
			return fail("section %s: %v", s.Name, err)
		}
		if s.Flags&SHFRelaLivepatch != 0 || strings.HasPrefix(s.Name, ".klp.rela.") {
			mod.KlpRelas = append(mod.KlpRelas, KlpRela{Name: s.Name, Target: tgt.addr, Relas: relas})
			continue
		}
		for i, r := range relas {
			if err := l.applyRela(mod, tgt, r); err != nil {
				return fail("section %s: relocation %d at %s+%#x: %v", s.Name, i, tgt.s.Name, r.Off, err)
			}
		}
	}

	// Final permissions.
	start = base
	for g := range groups {
		if sizes[g] == 0 {
			continue
		}
		if err := l.m.Mem.Protect(start, sizes[g], perms[g]); err != nil {
			return fail("%v", err)
		}
		start += sizes[g]
	}

	// Exports of the module.
	for _, tab := range []struct {
		sec string
		gpl bool
	}{{"__ksymtab", false}, {"__ksymtab_gpl", true}} {
		a, ok := mod.Sections[tab.sec]
		if !ok {
			continue
		}
		size := f.Section(tab.sec).Size
		for e := a; e+12 <= a+size; e += 12 {
			v, _ := l.m.Mem.Read32(e)
			n, _ := l.m.Mem.Read32(e + 4)
			sym, _ := l.m.ReadCString(e+4+uint64(int64(int32(n))), 128)
			ex := Export{Name: sym, Addr: e + uint64(int64(int32(v))), GPL: tab.gpl, Owner: name}
			if old, dup := l.exports[sym]; dup {
				return fail("exported symbol %s is already exported by %s", sym, old.Owner)
			}
			mod.exports = append(mod.exports, ex)
		}
	}
	for _, ex := range mod.exports {
		l.exports[ex.Name] = ex
	}

	// kallsyms.
	ks := kallsyms.FromELF(name, syms[1:], func(s elf.Symbol) (uint64, bool) {
		if int(s.Section) >= len(secs) || secs[s.Section].s.Flags&elf.SHF_ALLOC == 0 {
			return 0, false
		}
		return s.Value, true
	})
	if err := l.m.Syms.Add(name, ks); err != nil {
		return fail("%v", err)
	}

	// Special tables.
	rng := func(n string) [2]uint64 {
		a, ok := mod.Sections[n]
		if !ok {
			return [2]uint64{}
		}
		return [2]uint64{a, a + f.Section(n).Size}
	}
	if err := l.m.RegisterTables(&machine.Tables{Owner: name, Bug: rng("__bug_table"), Ex: rng("__ex_table"), Jump: rng("__jump_table")}); err != nil {
		return fail("%v", err)
	}
	if err := l.m.JumpLabelSync(name); err != nil {
		return fail("__jump_table: %v", err)
	}
	if r := rng(".altinstructions"); r[1] > r[0] && l.Alternatives != nil {
		if err := l.Alternatives(r[0], r[1]); err != nil {
			return fail(".altinstructions: %v", err)
		}
	}
	if r := rng("__mcount_loc"); r[1] > r[0] {
		for a := r[0]; a+8 <= r[1]; a += 8 {
			v, _ := l.m.Mem.Read64(a)
			mod.mcount = append(mod.mcount, v)
		}
	}
	if l.ft != nil {
		if err := l.ft.AddSites(name, mod.mcount); err != nil {
			return fail("__mcount_loc: %v", err)
		}
	}

	for _, s := range syms {
		if elf.ST_BIND(s.Info) != elf.STB_GLOBAL || s.Section == elf.SHN_UNDEF {
			continue
		}
		switch s.Name {
		case "init_module":
			mod.Init = s.Value
		case "cleanup_module":
			mod.Exit = s.Value
		}
	}
	l.mods = append(l.mods, mod)
	if l.Coming != nil {
		if err := l.Coming(mod); err != nil {
			l.mods = l.mods[:len(l.mods)-1]
			return fail("%v", err)
		}
	}
	if mod.Init != 0 {
		ret, err := l.m.CallKernel("insmod", mod.Init, 0, l.InitLimit)
		if err != nil {
			l.mods = l.mods[:len(l.mods)-1]
			if l.Going != nil {
				_ = l.Going(mod)
			}
			return fail("init_module: %v", err)
		}
		if r := int32(ret); r != 0 {
			l.mods = l.mods[:len(l.mods)-1]
			if l.Going != nil {
				_ = l.Going(mod)
			}
			return fail("init_module returned %d", r)
		}
	}
	return mod, nil
}

// Unload runs the module's cleanup_module and removes it.
func (l *Loader) Unload(name string) error {
	mod := l.Module(name)
	if mod == nil {
		return fmt.Errorf("module %s: not loaded", name)
	}
	if mod.Exit == 0 {
		return fmt.Errorf("module %s: no cleanup_module: cannot unload", name)
	}
	for _, o := range l.mods {
		if o == mod {
			continue
		}
		for _, s := range o.Symbols {
			if s.Section == elf.SHN_UNDEF && s.Name != "" {
				if e, ok := l.exports[s.Name]; ok && e.Owner == name {
					return fmt.Errorf("module %s: in use by %s (symbol %s)", name, o.Name, s.Name)
				}
			}
		}
	}
	if l.Removable != nil {
		if err := l.Removable(mod); err != nil {
			return fmt.Errorf("module %s: %v", name, err)
		}
	}
	if _, err := l.m.CallKernel("rmmod", mod.Exit, 0, l.InitLimit); err != nil {
		return fmt.Errorf("module %s: cleanup_module: %v", name, err)
	}
	var goingErr error
	if l.Going != nil {
		goingErr = l.Going(mod)
	}
	if l.ft != nil {
		l.ft.ReleaseSites(name)
	}
	for i, o := range l.mods {
		if o == mod {
			l.mods = append(l.mods[:i], l.mods[i+1:]...)
			break
		}
	}
	l.teardown(mod)
	if goingErr != nil {
		return fmt.Errorf("module %s: unloaded, but: %w", name, goingErr)
	}
	return nil
}

// teardown unregisters and unmaps whatever of mod is registered or mapped.
func (l *Loader) teardown(mod *Module) {
	if l.ft != nil {
		_ = l.ft.RemoveSites(mod.Name)
	}
	l.m.UnregisterTables(mod.Name)
	l.m.Syms.Remove(mod.Name)
	for _, ex := range mod.exports {
		if e, ok := l.exports[ex.Name]; ok && e.Owner == mod.Name {
			delete(l.exports, ex.Name)
		}
	}
	for _, r := range mod.regions {
		_ = l.m.Mem.Unmap(r[0], r[1])
	}
	mod.regions = nil
}

func (l *Loader) lookupAny(name string) (*kallsyms.Symbol, uint64, uint64, bool) {
	var found *kallsyms.Symbol
	l.m.Syms.All(func(s *kallsyms.Symbol) bool {
		if s.Name == name {
			found = s
			return false
		}
		return true
	})
	return found, 0, 0, found != nil
}

func sectionIndex(f *elf.File, s *elf.Section) int {
	for i, x := range f.Sections {
		if x == s {
			return i
		}
	}
	return 0
}

func parseRelas(b []byte) ([]elf.Rela64, error) {
	if len(b)%24 != 0 {
		return nil, fmt.Errorf("size %d is not a multiple of 24", len(b))
	}
	out := make([]elf.Rela64, len(b)/24)
	for i := range out {
		out[i].Off = binary.LittleEndian.Uint64(b[i*24:])
		out[i].Info = binary.LittleEndian.Uint64(b[i*24+8:])
		out[i].Addend = int64(binary.LittleEndian.Uint64(b[i*24+16:]))
	}
	return out, nil
}

// applyRela applies one relocation to section tgt of mod.
func (l *Loader) applyRela(mod *Module, tgt *sec, r elf.Rela64) error {
	typ := elf.R_X86_64(elf.R_TYPE64(r.Info))
	si := elf.R_SYM64(r.Info)
	if int(si) >= len(mod.Symbols) {
		return fmt.Errorf("%v: bad symbol index %d", typ, si)
	}
	if r.Off >= tgt.s.Size {
		return fmt.Errorf("%v: offset %#x beyond the section (%#x bytes)", typ, r.Off, tgt.s.Size)
	}
	S := mod.Symbols[si].Value
	A := uint64(r.Addend)
	P := tgt.addr + r.Off
	var size int
	var val uint64
	switch typ {
	case elf.R_X86_64_NONE:
		return nil
	case elf.R_X86_64_64:
		size, val = 8, S+A
	case elf.R_X86_64_PC64:
		size, val = 8, S+A-P
	case elf.R_X86_64_PC32, elf.R_X86_64_PLT32:
		size, val = 4, S+A-P
		if int64(val) != int64(int32(val)) {
			return fmt.Errorf("%v: symbol %s out of range (%#x)", typ, mod.Symbols[si].Name, val)
		}
	case elf.R_X86_64_32:
		size, val = 4, S+A
		if val != uint64(uint32(val)) {
			return fmt.Errorf("%v: symbol %s value %#x does not fit", typ, mod.Symbols[si].Name, val)
		}
	case elf.R_X86_64_32S:
		size, val = 4, S+A
		if int64(val) != int64(int32(val)) {
			return fmt.Errorf("%v: symbol %s value %#x does not fit", typ, mod.Symbols[si].Name, val)
		}
	default:
		return fmt.Errorf("unsupported relocation type %v (%d)", typ, uint32(typ))
	}
	if r.Off+uint64(size) > tgt.s.Size {
		return fmt.Errorf("%v: offset %#x beyond the section", typ, r.Off)
	}
	b := make([]byte, size)
	if size == 8 {
		binary.LittleEndian.PutUint64(b, val)
	} else {
		binary.LittleEndian.PutUint32(b, uint32(val))
	}
	return l.m.Mem.Poke(P, b)
}
