package ftrace

import (
	"errors"
	"fmt"
	"sort"

	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Flags modify how an Ops hooks a function.
type Flags uint

const (
	// FlagIPModify lets the Ops change Regs.IP; at most one such Ops may
	// hook a function (Linux's FTRACE_OPS_FL_IPMODIFY).
	FlagIPModify Flags = 1 << iota
	// FlagPermanent marks an Ops that must keep running: it cannot be
	// registered while ftrace is disabled, and ftrace cannot be disabled
	// while it is registered (Linux's FTRACE_OPS_FL_PERMANENT, which
	// livepatch uses).
	FlagPermanent
)

// ErrBusy is what Register and SetEnabled fail with when another user
// holds what they need (Linux: -EBUSY).
var ErrBusy = errors.New("busy")

// Regs is what an Ops callback sees of the interrupted task (pt_regs).
type Regs struct {
	// Machine is the machine the call happened in.
	Machine *machine.Machine
	// Task is the calling task.
	Task *machine.Task
	// CPU gives the registers as they were at the function's entry.
	CPU *cpu.CPU
	// IP is the traced function's fentry site; an Ops with FlagIPModify
	// sets it to make the call continue elsewhere.
	IP uint64
}

// Ops is a set of callbacks hooked into functions.
type Ops struct {
	// Name describes the ops in errors.
	Name string
	// Flags are the ops' flags.
	Flags Flags
	// Func is called on every entry of a hooked function; ip is the
	// function's fentry site, parentIP the caller's return address.
	Func func(ip, parentIP uint64, regs *Regs)
}

type site struct {
	addr  uint64
	owner string
	ops   []*Ops
}

// Ftrace manages the fentry sites of vmlinux and the loaded modules.
type Ftrace struct {
	m      *machine.Machine
	fentry uint64
	tramp  uint64
	sites  map[uint64]*site
	// disabled is the kernel.ftrace_enabled sysctl set to 0: no site
	// calls the trampoline.
	disabled bool
}

// New prepares ftrace for m: fentry is the address of __fentry__ (the
// target of every site's call before it is NOPed). It maps the trampoline
// and installs its trap.
func New(m *machine.Machine, fentry uint64) (*Ftrace, error) {
	tramp, err := m.AllocModule(mem.PageSize)
	if err != nil {
		return nil, err
	}
	if err := m.Mem.Map(tramp, mem.PageSize, mem.PermRX); err != nil {
		return nil, err
	}
	if err := m.Mem.Poke(tramp, []byte{0xc3}); err != nil {
		return nil, err
	}
	f := &Ftrace{m: m, fentry: fentry, tramp: tramp, sites: make(map[uint64]*site)}
	m.AddTrap(tramp, f.trap)
	return f, nil
}

// Trampoline returns the address hooked sites call.
func (f *Ftrace) Trampoline() uint64 { return f.tramp }

// AddSites turns each "call __fentry__" of owner at the given addresses
// into a 5-byte NOP and records the sites. Nothing changes on error.
func (f *Ftrace) AddSites(owner string, addrs []uint64) error {
	for _, a := range addrs {
		if _, ok := f.sites[a]; ok {
			return fmt.Errorf("ftrace: %s: site %s already registered", owner, f.m.Syms.Format(a))
		}
		var b [5]byte
		if err := f.m.Mem.Peek(a, b[:]); err != nil {
			return fmt.Errorf("ftrace: %s: site %#x: %w", owner, a, err)
		}
		if b == machine.Nop5 {
			continue
		}
		rel := int64(f.fentry) - int64(a+5)
		if b[0] != 0xe8 || int64(int32(uint32(b[1])|uint32(b[2])<<8|uint32(b[3])<<16|uint32(b[4])<<24)) != rel {
			return fmt.Errorf("ftrace: %s: site %s is not a call to __fentry__: % x", owner, f.m.Syms.Format(a), b)
		}
	}
	for _, a := range addrs {
		if err := f.m.Mem.Poke(a, machine.Nop5[:]); err != nil {
			return err
		}
		f.sites[a] = &site{addr: a, owner: owner}
	}
	return nil
}

// RemoveSites forgets owner's sites; it fails if any is still hooked.
func (f *Ftrace) RemoveSites(owner string) error {
	for _, s := range f.sites {
		if s.owner == owner && len(s.ops) > 0 {
			return fmt.Errorf("ftrace: %s: %s is still hooked by %s", owner, f.m.Syms.Format(s.addr), s.ops[0].Name)
		}
	}
	for a, s := range f.sites {
		if s.owner == owner {
			delete(f.sites, a)
		}
	}
	return nil
}

// ReleaseSites forgets owner's sites even if some are still hooked, as
// Linux's ftrace_release_mod does when a module goes away; it returns the
// ops that still hooked one (their hooks on the module are gone).
func (f *Ftrace) ReleaseSites(owner string) []*Ops {
	var left []*Ops
	for a, s := range f.sites {
		if s.owner == owner {
			left = append(left, s.ops...)
			delete(f.sites, a)
		}
	}
	return left
}

// Sites returns the number of sites owned by owner ("" for all).
func (f *Ftrace) Sites(owner string) int {
	n := 0
	for _, s := range f.sites {
		if owner == "" || s.owner == owner {
			n++
		}
	}
	return n
}

// Hooked lists the hooked site addresses in order.
func (f *Ftrace) Hooked() []uint64 {
	var out []uint64
	for a, s := range f.sites {
		if len(s.ops) > 0 {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// SiteOf returns the fentry site of the function at fn (at fn, or after
// an endbr64).
func (f *Ftrace) SiteOf(fn uint64) (uint64, error) {
	for _, a := range []uint64{fn, fn + 4} {
		if _, ok := f.sites[a]; ok {
			return a, nil
		}
	}
	return 0, fmt.Errorf("ftrace: %s has no fentry site", f.m.Syms.Format(fn))
}

// Register hooks ops into the function at fn.
func (f *Ftrace) Register(fn uint64, ops *Ops) error {
	a, err := f.SiteOf(fn)
	if err != nil {
		return err
	}
	s := f.sites[a]
	for _, o := range s.ops {
		if o == ops {
			return fmt.Errorf("ftrace: %s already hooks %s", ops.Name, f.m.Syms.Format(fn))
		}
		if o.Flags&FlagIPModify != 0 && ops.Flags&FlagIPModify != 0 {
			return fmt.Errorf("ftrace: %s: %s already modifies the IP of %s: %w", ops.Name, o.Name, f.m.Syms.Format(fn), ErrBusy)
		}
	}
	if f.disabled && ops.Flags&FlagPermanent != 0 {
		return fmt.Errorf("ftrace: %s: kernel.ftrace_enabled is 0: %w", ops.Name, ErrBusy)
	}
	if len(s.ops) == 0 && !f.disabled {
		if err := f.hook(a); err != nil {
			return err
		}
	}
	s.ops = append(s.ops, ops)
	return nil
}

// hook makes the site at a call the trampoline.
func (f *Ftrace) hook(a uint64) error {
	rel := int64(f.tramp) - int64(a+5)
	if rel != int64(int32(rel)) {
		return fmt.Errorf("ftrace: trampoline out of reach of %s", f.m.Syms.Format(a))
	}
	return f.m.Mem.Poke(a, []byte{0xe8, byte(rel), byte(rel >> 8), byte(rel >> 16), byte(rel >> 24)})
}

// Enabled reports the kernel.ftrace_enabled sysctl.
func (f *Ftrace) Enabled() bool { return !f.disabled }

// SetEnabled sets the kernel.ftrace_enabled sysctl. Disabling turns every
// hooked site back into a NOP (the ops stay registered and run again once
// enabled), and fails with ErrBusy while a permanent ops is registered.
func (f *Ftrace) SetEnabled(on bool) error {
	if on == !f.disabled {
		return nil
	}
	if !on {
		for _, s := range f.sites {
			for _, o := range s.ops {
				if o.Flags&FlagPermanent != 0 {
					return fmt.Errorf("ftrace: %s hooks %s: %w", o.Name, f.m.Syms.Format(s.addr), ErrBusy)
				}
			}
		}
	}
	for _, a := range f.Hooked() {
		var err error
		if on {
			err = f.hook(a)
		} else {
			err = f.m.Mem.Poke(a, machine.Nop5[:])
		}
		if err != nil {
			return err
		}
	}
	f.disabled = !on
	return nil
}

// Unregister unhooks ops from the function at fn; the site becomes the
// NOP again when no ops is left.
func (f *Ftrace) Unregister(fn uint64, ops *Ops) error {
	a, err := f.SiteOf(fn)
	if err != nil {
		return err
	}
	s := f.sites[a]
	for i, o := range s.ops {
		if o == ops {
			s.ops = append(s.ops[:i:i], s.ops[i+1:]...)
			if len(s.ops) == 0 && !f.disabled {
				return f.m.Mem.Poke(a, machine.Nop5[:])
			}
			return nil
		}
	}
	return fmt.Errorf("ftrace: %s does not hook %s", ops.Name, f.m.Syms.Format(fn))
}

// trap runs the ops of the site whose call brought the CPU to the
// trampoline, then returns into the function or goes where an IPMODIFY
// ops pointed.
func (f *Ftrace) trap(m *machine.Machine, t *machine.Task, c *cpu.CPU) error {
	sp := c.Regs[cpu.RSP]
	ret, err := m.Mem.Read64(sp)
	if err != nil {
		return fmt.Errorf("ftrace trampoline: %w", err)
	}
	parent, _ := m.Mem.Read64(sp + 8)
	s := f.sites[ret-5]
	if s == nil {
		return fmt.Errorf("ftrace trampoline called from %s, not a hooked site", m.Syms.Format(ret))
	}
	regs := &Regs{Machine: m, Task: t, CPU: c, IP: s.addr}
	for _, o := range append([]*Ops(nil), s.ops...) {
		ip := regs.IP
		o.Func(s.addr, parent, regs)
		if o.Flags&FlagIPModify == 0 {
			regs.IP = ip
		}
	}
	// Return from the trampoline call.
	c.Regs[cpu.RSP] = sp + 8
	if sh := c.Shadow(); len(sh) > 0 && sh[len(sh)-1].SP == sp {
		c.SetShadow(sh[:len(sh)-1])
	}
	if regs.IP != s.addr {
		c.RIP = regs.IP
	} else {
		c.RIP = ret
	}
	return nil
}
