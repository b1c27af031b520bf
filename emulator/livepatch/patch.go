package livepatch

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/loader"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// Patch is a live patch known to the core (Linux's struct klp_patch).
type Patch struct {
	// Name is the patch module's name.
	Name string
	// Mod is the patch module.
	Mod *loader.Module
	// Addr is the struct klp_patch.
	Addr    uint64
	Objs    []*Object
	States  []State
	Replace bool
	Model   Model
	// Enabled is the sysfs "enabled" attribute.
	Enabled bool
	// Forced is set when a forced transition removed the patch (its
	// unpatching, or a replacing patch's patching): its module can no
	// longer be unloaded.
	Forced bool
	// Disabled is set once the patch was disabled (or replaced): it
	// cannot be enabled again.
	Disabled bool
}

// Object is a patched object: vmlinux or a module (struct klp_object).
type Object struct {
	// Name is "" for vmlinux.
	Name  string
	Addr  uint64
	Funcs []*Func
	// Callbacks: pre_patch, post_patch, pre_unpatch, post_unpatch.
	PrePatch, PostPatch, PreUnpatch, PostUnpatch uint64
	// Patched reports whether the object is loaded and its functions
	// are on the function stacks.
	Patched bool

	postUnpatchEnabled bool
	dynamic            bool // created for nops
}

// DisplayName is the object's name, "vmlinux" for vmlinux.
func (o *Object) DisplayName() string {
	if o.Name == "" {
		return "vmlinux"
	}
	return o.Name
}

// Func is a patched function (struct klp_func).
type Func struct {
	OldName string
	NewFunc uint64
	Sympos  int
	Flags   uint64
	// OldAddr, OldSize and NewSize are known while the object is loaded.
	OldAddr, OldSize, NewSize uint64

	nop        bool
	patched    bool
	transition bool
}

// State is a system state of a patch (struct klp_state).
type State struct {
	ID      uint64
	Version uint32
	Addr    uint64
}

// moduleSlotSize is the room given to each struct module the core
// allocates (a multiple of 8, at least abi.Sizeof_module).
const moduleSlotSize = (abi.Sizeof_module + 7) &^ 7

// Module states (enum module_state, from package abi).
const (
	ModuleStateLive   = abi.MODULE_STATE_LIVE
	ModuleStateComing = abi.MODULE_STATE_COMING
	ModuleStateGoing  = abi.MODULE_STATE_GOING
)

func (c *Core) rd64(a uint64) uint64 { v, _ := c.M.Mem.Read64(a); return v }

func (c *Core) readStates(addr uint64) []State {
	var out []State
	sa := c.rd64(addr + abi.Offsetof_klp_patch_states)
	if sa == 0 {
		return nil
	}
	for i := 0; i < 256; i++ {
		e := sa + uint64(i)*abi.Sizeof_klp_state
		id := c.rd64(e + abi.Offsetof_klp_state_id)
		if id == 0 {
			break
		}
		v, _ := c.M.Mem.Read32(e + abi.Offsetof_klp_state_version)
		out = append(out, State{ID: id, Version: v, Addr: e})
	}
	return out
}

// le64 reads the 8-byte little-endian field at off of b.
func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// decode reads a struct klp_patch from kernel memory.
func (c *Core) decode(addr uint64, name string) (*Patch, error) {
	p := &Patch{Name: name, Addr: addr}
	var b [abi.Sizeof_klp_patch]byte
	if err := c.M.Mem.Peek(addr, b[:]); err != nil {
		return nil, fmt.Errorf("struct klp_patch at %#x: %w", addr, err)
	}
	objs := le64(b[:], abi.Offsetof_klp_patch_objs)
	p.Replace = b[abi.Offsetof_klp_patch_replace] != 0
	p.Model = Model(int32(binary.LittleEndian.Uint32(b[abi.Offsetof_klp_patch_model:])))
	if p.Model < Hybrid || p.Model > Refcount {
		return nil, fmt.Errorf("unknown consistency model %d", int(p.Model))
	}
	p.States = c.readStates(addr)
	if objs == 0 {
		return nil, fmt.Errorf("no objects")
	}
	const cb = abi.Offsetof_klp_object_callbacks
	for i := 0; i < 64; i++ {
		var ob [abi.Sizeof_klp_object]byte
		oa := objs + uint64(i)*abi.Sizeof_klp_object
		if err := c.M.Mem.Peek(oa, ob[:]); err != nil {
			return nil, fmt.Errorf("struct klp_object at %#x: %w", oa, err)
		}
		nameP, funcs := le64(ob[:], abi.Offsetof_klp_object_name), le64(ob[:], abi.Offsetof_klp_object_funcs)
		if nameP == 0 && funcs == 0 {
			break
		}
		o := &Object{Addr: oa,
			PrePatch: le64(ob[:], cb+abi.Offsetof_klp_callbacks_pre_patch), PostPatch: le64(ob[:], cb+abi.Offsetof_klp_callbacks_post_patch),
			PreUnpatch: le64(ob[:], cb+abi.Offsetof_klp_callbacks_pre_unpatch), PostUnpatch: le64(ob[:], cb+abi.Offsetof_klp_callbacks_post_unpatch)}
		if nameP != 0 {
			o.Name, _ = c.M.ReadCString(nameP, 64)
			if o.Name == "vmlinux" || o.Name == "" {
				return nil, fmt.Errorf("object %d: vmlinux must be named NULL", i)
			}
		}
		for j := 0; funcs != 0 && j < 4096; j++ {
			fa := funcs + uint64(j)*abi.Sizeof_klp_func
			var fb [abi.Sizeof_klp_func]byte
			if err := c.M.Mem.Peek(fa, fb[:]); err != nil {
				return nil, fmt.Errorf("struct klp_func at %#x: %w", fa, err)
			}
			on, nf := le64(fb[:], abi.Offsetof_klp_func_old_name), le64(fb[:], abi.Offsetof_klp_func_new_func)
			pos, fl := le64(fb[:], abi.Offsetof_klp_func_old_sympos), le64(fb[:], abi.Offsetof_klp_func_flags)
			if on == 0 && nf == 0 && pos == 0 {
				break
			}
			f := &Func{NewFunc: nf, Sympos: int(pos), Flags: fl}
			if on == 0 || nf == 0 {
				return nil, fmt.Errorf("object %s: function %d has no old_name or new_func", o.DisplayName(), j)
			}
			f.OldName, _ = c.M.ReadCString(on, 128)
			o.Funcs = append(o.Funcs, f)
		}
		p.Objs = append(p.Objs, o)
	}
	return p, nil
}

// moduleOf finds the module whose code is on t's stack (the patch module
// whose init called klp_enable_patch).
// (or, when init_module tail-called it, the module being initialized:
// the newest).
func (c *Core) moduleOf(t *machine.Task, patchAddr uint64) *loader.Module {
	mods := c.K.Loader.Modules()
	for _, a := range append([]uint64{patchAddr}, c.M.Stack(t).Reliable...) {
		for _, m := range mods {
			if a >= m.Base && a < m.Base+m.Size {
				return m
			}
		}
	}
	if len(mods) > 0 {
		return mods[len(mods)-1]
	}
	return nil
}

// Patch returns the registered or disabled patch name, or nil.
func (c *Core) Patch(name string) *Patch {
	for _, p := range c.patches {
		if p.Name == name {
			return p
		}
	}
	for _, p := range c.gone {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Patches returns the registered patches (enabled or in transition),
// oldest first.
func (c *Core) Patches() []*Patch { return append([]*Patch(nil), c.patches...) }

func (c *Core) objLoaded(o *Object) bool {
	return o.Name == "" || c.K.Loader.Module(o.Name) != nil
}

// initObject resolves an object's functions and applies its klp
// relocations; it changes nothing but the patch module's own relocation
// targets, so a failure leaves nothing behind.
func (c *Core) initObject(p *Patch, o *Object) error {
	if err := c.applyRelocs(p, o); err != nil {
		return err
	}
	for _, f := range o.Funcs {
		s, err := c.M.Syms.Find(o.DisplayName(), f.OldName, f.Sympos)
		if err != nil {
			return fmt.Errorf("cannot resolve %s in %s: %w", f.OldName, o.DisplayName(), err)
		}
		f.OldAddr, f.OldSize = s.Addr, s.Size
		if _, err := c.K.Ftrace.SiteOf(f.OldAddr); err != nil {
			return fmt.Errorf("function %s has no fentry site: it cannot be patched", f.OldName)
		}
		if f.nop {
			f.NewFunc, f.NewSize = f.OldAddr, f.OldSize
			continue
		}
		if ns, _, sz, ok := c.M.Syms.Lookup(f.NewFunc); ok && ns.Addr == f.NewFunc {
			f.NewSize = sz
		} else {
			f.NewSize = 1
		}
	}
	return nil
}

// applyRelocs applies the .klp.rela.OBJ.* sections of p's module for o.
func (c *Core) applyRelocs(p *Patch, o *Object) error {
	if p.Mod == nil {
		return nil
	}
	objName := o.DisplayName()
	for _, kr := range p.Mod.KlpRelas {
		rest, ok := strings.CutPrefix(kr.Name, ".klp.rela.")
		if !ok {
			return fmt.Errorf("section %s: not a klp relocation section", kr.Name)
		}
		obj, _, ok := strings.Cut(rest, ".")
		if !ok {
			return fmt.Errorf("section %s: no object name", kr.Name)
		}
		if obj != objName {
			continue
		}
		for i, r := range kr.Relas {
			rela, err := loader.NewRela(kr.Name, i, kr.TargetName, kr.Target, kr.TargetSize, r, p.Mod.Symbols)
			if err != nil {
				return err
			}
			if p.Mod.Symbols[elf.R_SYM64(r.Info)].Section == loader.SHNLivepatch {
				if rela.S, err = c.resolveKlpSym(rela.Sym, objName); err != nil {
					return fmt.Errorf("section %s: relocation %d: %w", kr.Name, i, err)
				}
			}
			if err := loader.ApplyRela(c.M.Mem, rela); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveKlpSym resolves ".klp.sym.OBJ.NAME,POS" through kallsyms.
func (c *Core) resolveKlpSym(name, objName string) (uint64, error) {
	rest, ok := strings.CutPrefix(name, ".klp.sym.")
	if !ok {
		return 0, fmt.Errorf("symbol %s: not a .klp.sym symbol", name)
	}
	comma := strings.LastIndexByte(rest, ',')
	dot := strings.IndexByte(rest, '.')
	if comma < 0 || dot < 0 || dot > comma {
		return 0, fmt.Errorf("symbol %s: malformed (want .klp.sym.OBJ.NAME,POS)", name)
	}
	obj, sname := rest[:dot], rest[dot+1:comma]
	pos, err := strconv.Atoi(rest[comma+1:])
	if err != nil || pos < 0 {
		return 0, fmt.Errorf("symbol %s: bad sympos", name)
	}
	if obj != objName {
		return 0, fmt.Errorf("symbol %s: object %s in a relocation section of %s", name, obj, objName)
	}
	var match []uint64
	for _, s := range c.M.Syms.Symbols(objName) {
		if s.Name == sname {
			match = append(match, s.Addr)
		}
	}
	switch {
	case len(match) == 0:
		return 0, fmt.Errorf("symbol '%s' not found in object '%s'", sname, objName)
	case pos == 0 && len(match) > 1:
		return 0, fmt.Errorf("unresolvable ambiguity for symbol '%s' in object '%s': %d copies and sympos 0", sname, objName, len(match))
	case pos > len(match):
		return 0, fmt.Errorf("symbol position %d for symbol '%s' in object '%s' not found (%d copies)", pos, sname, objName, len(match))
	case pos == 0:
		return match[0], nil
	}
	return match[pos-1], nil
}

// compatible is Linux's klp_is_patch_compatible: a patch must handle
// every system state the enabled patches set up, at the same or a newer
// version, unless it does not replace them.
func (c *Core) compatible(p *Patch) bool {
	for _, old := range c.patches {
		for _, os := range old.States {
			var ns *State
			for i := range p.States {
				if p.States[i].ID == os.ID {
					ns = &p.States[i]
				}
			}
			if ns == nil {
				if p.Replace {
					return false
				}
				continue
			}
			if ns.Version < os.Version {
				return false
			}
		}
	}
	return true
}

// addNops gives a replacing patch a nop function for every function an
// older patch changes and it does not.
func (c *Core) addNops(p *Patch) {
	for _, old := range c.patches {
		for _, oo := range old.Objs {
			var no *Object
			for _, o := range p.Objs {
				if o.Name == oo.Name {
					no = o
				}
			}
			if no == nil {
				no = &Object{Name: oo.Name, dynamic: true}
				p.Objs = append(p.Objs, no)
			}
		next:
			for _, of := range oo.Funcs {
				for _, f := range no.Funcs {
					if f.OldName == of.OldName && f.Sympos == of.Sympos {
						continue next
					}
				}
				no.Funcs = append(no.Funcs, &Func{OldName: of.OldName, Sympos: of.Sympos, nop: true,
					OldAddr: of.OldAddr, OldSize: of.OldSize, NewFunc: of.OldAddr, NewSize: of.OldSize})
			}
		}
	}
}

func errno(e int) int64 { return -int64(e) }
