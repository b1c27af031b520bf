package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/kallsyms"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
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
	// Target is the address of the section the relocations apply to,
	// TargetName its name and TargetSize its size.
	Target     uint64
	TargetName string
	TargetSize uint64
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

// ReadKsymtab decodes the struct kernel_symbol entries of a __ksymtab or
// __ksymtab_gpl table in [start, end) of m's memory (each field holds
// its target's address relative to itself), as exports of owner.
func ReadKsymtab(m *machine.Machine, start, end uint64, gpl bool, owner string) []Export {
	var out []Export
	for e := start; e+abi.Sizeof_kernel_symbol <= end; e += abi.Sizeof_kernel_symbol {
		vf, nf := e+abi.Offsetof_kernel_symbol_value_offset, e+abi.Offsetof_kernel_symbol_name_offset
		v, _ := m.Mem.Read32(vf)
		n, _ := m.Mem.Read32(nf)
		name, _ := m.ReadCString(nf+uint64(int64(int32(n))), 128)
		out = append(out, Export{Name: name, Addr: vf + uint64(int64(int32(v))), GPL: gpl, Owner: owner})
	}
	return out
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

// loadInfo is what the stages of Load hand each other (Linux's struct
// load_info).
type loadInfo struct {
	// name is the module's name: the fallback until .modinfo is read.
	name string
	f    *elf.File
	secs []*sec
	info map[string]string
	syms []elf.Symbol
	// groups are the allocated sections by kind (text, read-only data,
	// writable data) and sizes their page-rounded sizes.
	groups [3][]*sec
	sizes  [3]uint64
	mod    *Module
}

// Load loads a module from the bytes of its .ko. fallbackName names it if
// it has no .modinfo name. It follows Linux's load_module, one function
// per phase; a failure in any phase leaves nothing behind (teardown).
func (l *Loader) Load(data []byte, fallbackName string) (mod *Module, err error) {
	li := &loadInfo{name: fallbackName}
	defer func() {
		if err != nil {
			err = fmt.Errorf("module %s: %w", li.name, err)
			mod = nil
		}
	}()
	if err := l.setupLoadInfo(li, data); err != nil {
		return nil, err
	}
	if err := l.layoutAndAllocate(li); err != nil {
		return nil, err
	}
	// From here on, undo everything on failure.
	defer func() {
		if err != nil {
			l.teardown(li.mod)
		}
	}()
	for _, stage := range []func(*loadInfo) error{
		l.simplifySymbols,
		l.applyRelocations,
		l.enableProtection,
		l.addExports,
		l.addKallsyms,
		l.findModuleSections,
		l.completeFormation,
		l.prepareComingModule,
		l.doInitModule,
	} {
		if err := stage(li); err != nil {
			return nil, err
		}
	}
	return li.mod, nil
}

// setupLoadInfo parses and checks the ELF object, reads its sections and
// its .modinfo, refuses a module already loaded, and reads its symbol
// table (Linux: elf_validity_check, setup_load_info, and the name check
// of load_module's early steps).
func (l *Loader) setupLoadInfo(li *loadInfo, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not a valid ELF object: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_REL {
		return fmt.Errorf("not an x86-64 relocatable object (%v %v %v)", f.Class, f.Machine, f.Type)
	}
	li.f = f
	// Read every section first: a truncated file fails here.
	li.secs = make([]*sec, len(f.Sections))
	for i, s := range f.Sections {
		sc := &sec{idx: i, s: s}
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL {
			if s.Offset+s.FileSize > uint64(len(data)) || s.Offset+s.FileSize < s.Offset {
				return fmt.Errorf("section %s: truncated (needs bytes %d..%d of %d)", s.Name, s.Offset, s.Offset+s.FileSize, len(data))
			}
			if sc.data, err = s.Data(); err != nil {
				return fmt.Errorf("section %s: %w", s.Name, err)
			}
		}
		li.secs[i] = sc
	}
	li.info = map[string]string{}
	if s := f.Section(".modinfo"); s != nil {
		for _, kv := range strings.Split(string(li.secs[sectionIndex(f, s)].data), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				li.info[k] = v
			}
		}
	}
	// Like Linux (ENOEXEC, "No module found in object"), a plain
	// relocatable object is not a module: one needs its module
	// information (.modinfo with name=, which the bundled kernel's modules
	// carry) or Linux's struct module (.gnu.linkonce.this_module).
	if li.info["name"] == "" && f.Section(".gnu.linkonce.this_module") == nil {
		if f.Section(".modinfo") == nil {
			return errors.New("not a kernel module: no .modinfo section and no .gnu.linkonce.this_module (a plain relocatable object?)")
		}
		return errors.New("not a kernel module: .modinfo has no name= and there is no .gnu.linkonce.this_module")
	}
	if n := li.info["name"]; n != "" {
		li.name = n
	}
	if li.name == "" {
		return errors.New("no name")
	}
	if l.Module(li.name) != nil {
		return errors.New("already loaded")
	}
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("symbol table: %w", err)
	}
	li.syms = append([]elf.Symbol{{}}, syms...)
	return nil
}

// layoutAndAllocate lays the allocated sections out in three page-aligned
// groups (text, read-only data, writable data), allocates the module's
// memory and copies the sections in, mapped writable for now (Linux:
// layout_and_allocate, with layout_sections and move_module).
func (l *Loader) layoutAndAllocate(li *loadInfo) error {
	for _, sc := range li.secs {
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
		li.groups[g] = append(li.groups[g], sc)
	}
	for g := range li.groups {
		off := uint64(0)
		for _, sc := range li.groups[g] {
			al := max(sc.s.Addralign, 1)
			off = (off + al - 1) / al * al
			sc.addr = off // relative for now
			off += sc.s.Size
		}
		li.sizes[g] = (off + mem.PageMask) &^ uint64(mem.PageMask)
	}
	total := li.sizes[0] + li.sizes[1] + li.sizes[2]
	if total == 0 {
		return errors.New("no allocatable sections")
	}
	base, err := l.m.AllocModule(total)
	if err != nil {
		return err
	}
	mod := &Module{Name: li.name, Base: base, Size: total, Sections: map[string]uint64{}, Info: li.info}
	li.mod = mod
	start := base
	for g := range li.groups {
		if li.sizes[g] == 0 {
			continue
		}
		// Mapped writable while being filled; final permissions in
		// enableProtection. A failure unmaps what was mapped.
		if err := l.m.Mem.Map(start, li.sizes[g], mem.PermRW); err != nil {
			l.teardown(mod)
			return err
		}
		mod.regions = append(mod.regions, [2]uint64{start, li.sizes[g]})
		for _, sc := range li.groups[g] {
			sc.addr += start
			mod.Sections[sc.s.Name] = sc.addr
			if sc.s.Type != elf.SHT_NOBITS {
				if err := l.m.Mem.Poke(sc.addr, sc.data); err != nil {
					l.teardown(mod)
					return fmt.Errorf("section %s: %w", sc.s.Name, err)
				}
			}
		}
		start += li.sizes[g]
	}
	return nil
}

// simplifySymbols gives every symbol its run-time value: undefined ones
// from the exported symbols (a weak one may stay 0), defined ones from
// their section's address (Linux: simplify_symbols). The .klp.sym
// symbols of a live patch are left to the livepatch core.
func (l *Loader) simplifySymbols(li *loadInfo) error {
	syms := li.syms
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
					return fmt.Errorf("unknown symbol %s (defined in vmlinux but not exported)", s.Name)
				}
				return fmt.Errorf("unknown symbol %s", s.Name)
			}
			s.Value = e.Addr
		case s.Section == elf.SHN_ABS:
		case s.Section == SHNLivepatch:
			// A .klp.sym symbol: resolved by the livepatch core.
		case s.Section == elf.SHN_COMMON:
			return fmt.Errorf("symbol %s: common symbols are not supported (build with -fno-common)", s.Name)
		case int(s.Section) < len(li.secs):
			sc := li.secs[s.Section]
			if sc.addr == 0 && sc.s.Flags&elf.SHF_ALLOC != 0 && sc.s.Size != 0 {
				return fmt.Errorf("symbol %s: section %s not laid out", s.Name, sc.s.Name)
			}
			if sc.s.Flags&elf.SHF_ALLOC != 0 {
				s.Value += sc.addr
			}
		default:
			return fmt.Errorf("symbol %s: bad section index %d", s.Name, s.Section)
		}
	}
	li.mod.Symbols = syms
	return nil
}

// applyRelocations applies every SHT_RELA section whose target is
// allocated, except the livepatch ones, kept in Module.KlpRelas (Linux:
// apply_relocations, apply_relocate_add, which skips SHF_RELA_LIVEPATCH).
func (l *Loader) applyRelocations(li *loadInfo) error {
	mod := li.mod
	for _, sc := range li.secs {
		s := sc.s
		if s.Type == elf.SHT_REL {
			return fmt.Errorf("section %s: SHT_REL relocations are not supported on x86-64", s.Name)
		}
		if s.Type != elf.SHT_RELA {
			continue
		}
		if int(s.Info) >= len(li.secs) {
			return fmt.Errorf("section %s: bad target section %d", s.Name, s.Info)
		}
		tgt := li.secs[s.Info]
		if tgt.s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		relas, err := parseRelas(sc.data)
		if err != nil {
			return fmt.Errorf("section %s: %w", s.Name, err)
		}
		if s.Flags&SHFRelaLivepatch != 0 || strings.HasPrefix(s.Name, ".klp.rela.") {
			mod.KlpRelas = append(mod.KlpRelas, KlpRela{Name: s.Name, Target: tgt.addr, TargetName: tgt.s.Name,
				TargetSize: tgt.s.Size, Relas: relas})
			continue
		}
		for i, r := range relas {
			rela, err := NewRela(s.Name, i, tgt.s.Name, tgt.addr, tgt.s.Size, r, mod.Symbols)
			if err == nil {
				err = ApplyRela(l.m.Mem, rela)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// enableProtection gives each group its final permissions: text
// read-only and executable, rodata read-only, data read-write (Linux:
// module_enable_ro and module_enable_nx, from complete_formation).
func (l *Loader) enableProtection(li *loadInfo) error {
	perms := [3]mem.Perm{mem.PermRX, mem.PermRead, mem.PermRW}
	start := li.mod.Base
	for g := range li.groups {
		if li.sizes[g] == 0 {
			continue
		}
		if err := l.m.Mem.Protect(start, li.sizes[g], perms[g]); err != nil {
			return err
		}
		start += li.sizes[g]
	}
	return nil
}

// addExports registers the module's own exports (__ksymtab,
// __ksymtab_gpl), refusing a name another owner already exports (Linux:
// verify_exported_symbols, from complete_formation).
func (l *Loader) addExports(li *loadInfo) error {
	mod := li.mod
	for _, tab := range []struct {
		sec string
		gpl bool
	}{{"__ksymtab", false}, {"__ksymtab_gpl", true}} {
		a, ok := mod.Sections[tab.sec]
		if !ok {
			continue
		}
		for _, ex := range ReadKsymtab(l.m, a, a+li.f.Section(tab.sec).Size, tab.gpl, li.name) {
			if old, dup := l.exports[ex.Name]; dup {
				return fmt.Errorf("exported symbol %s is already exported by %s", ex.Name, old.Owner)
			}
			mod.exports = append(mod.exports, ex)
		}
	}
	for _, ex := range mod.exports {
		l.exports[ex.Name] = ex
	}
	return nil
}

// addKallsyms adds the module's symbols in allocated sections to kallsyms
// (Linux: add_kallsyms, from post_relocation).
func (l *Loader) addKallsyms(li *loadInfo) error {
	ks := kallsyms.FromELF(li.name, li.syms[1:], func(s elf.Symbol) (uint64, bool) {
		if int(s.Section) >= len(li.secs) || li.secs[s.Section].s.Flags&elf.SHF_ALLOC == 0 {
			return 0, false
		}
		return s.Value, true
	})
	return l.m.Syms.Add(li.name, ks)
}

// findModuleSections registers the module's special sections: the bug,
// exception and jump tables (syncing its static branches with their keys),
// its alternatives, and its mcount sites for ftrace (Linux:
// find_module_sections, then module_finalize's apply_alternatives,
// module_bug_finalize, jump_label_add_module and ftrace_module_init).
func (l *Loader) findModuleSections(li *loadInfo) error {
	mod := li.mod
	rng := func(n string) [2]uint64 {
		a, ok := mod.Sections[n]
		if !ok {
			return [2]uint64{}
		}
		return [2]uint64{a, a + li.f.Section(n).Size}
	}
	if err := l.m.RegisterTables(&machine.Tables{Owner: li.name, Bug: rng("__bug_table"), Ex: rng("__ex_table"), Jump: rng("__jump_table")}); err != nil {
		return err
	}
	if err := l.m.JumpLabelSync(li.name); err != nil {
		return fmt.Errorf("__jump_table: %w", err)
	}
	if r := rng(".altinstructions"); r[1] > r[0] && l.Alternatives != nil {
		if err := l.Alternatives(r[0], r[1]); err != nil {
			return fmt.Errorf(".altinstructions: %w", err)
		}
	}
	if r := rng("__mcount_loc"); r[1] > r[0] {
		for a := r[0]; a+8 <= r[1]; a += 8 {
			v, _ := l.m.Mem.Read64(a)
			mod.mcount = append(mod.mcount, v)
		}
	}
	if l.ft != nil {
		if err := l.ft.AddSites(li.name, mod.mcount); err != nil {
			return fmt.Errorf("__mcount_loc: %w", err)
		}
	}
	return nil
}

// completeFormation finds the entry points (init_module, cleanup_module)
// and puts the module on the list of loaded modules (Linux:
// complete_formation, which adds it as MODULE_STATE_COMING).
func (l *Loader) completeFormation(li *loadInfo) error {
	mod := li.mod
	for _, s := range li.syms {
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
	return nil
}

// prepareComingModule runs the Coming hook, where the livepatch core
// patches the module's functions before its init runs; an error takes
// the module off the list again (Linux: prepare_coming_module,
// klp_module_coming).
func (l *Loader) prepareComingModule(li *loadInfo) error {
	if l.Coming == nil {
		return nil
	}
	if err := l.Coming(li.mod); err != nil {
		l.mods = l.mods[:len(l.mods)-1]
		return err
	}
	return nil
}

// doInitModule runs init_module, if any, within InitLimit; if it fails or
// returns non-zero, the module leaves the list and the Going hook undoes
// what Coming did (Linux: do_init_module, and the MODULE_STATE_GOING
// path of a failed init).
func (l *Loader) doInitModule(li *loadInfo) error {
	mod := li.mod
	if mod.Init == 0 {
		return nil
	}
	ret, err := l.m.CallKernel("insmod", mod.Init, 0, l.InitLimit)
	if err == nil && int32(ret) != 0 {
		err = fmt.Errorf("init_module returned %d", int32(ret))
	} else if err != nil {
		err = fmt.Errorf("init_module: %w", err)
	}
	if err != nil {
		l.mods = l.mods[:len(l.mods)-1]
		if l.Going != nil {
			_ = l.Going(mod)
		}
		return err
	}
	return nil
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
			return fmt.Errorf("module %s: %w", name, err)
		}
	}
	if _, err := l.m.CallKernel("rmmod", mod.Exit, 0, l.InitLimit); err != nil {
		return fmt.Errorf("module %s: cleanup_module: %w", name, err)
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
