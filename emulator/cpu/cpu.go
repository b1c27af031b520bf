package cpu

import (
	"errors"
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Register numbers, in the order of their x86 encoding.
const (
	RAX = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

var regNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// RegName returns the AT&T name (without %) of a 64-bit register number.
func RegName(r int) string {
	if r < 0 || r >= len(regNames) {
		return fmt.Sprintf("reg%d", r)
	}
	return regNames[r]
}

// RFLAGS bits.
const (
	FlagCF uint64 = 1 << 0
	FlagPF uint64 = 1 << 2
	FlagAF uint64 = 1 << 4
	FlagZF uint64 = 1 << 6
	FlagSF uint64 = 1 << 7
	FlagTF uint64 = 1 << 8
	FlagIF uint64 = 1 << 9
	FlagDF uint64 = 1 << 10
	FlagOF uint64 = 1 << 11

	// FlagsArith is the set of arithmetic flags.
	FlagsArith = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF
	// flagsWritable is what popf may change.
	flagsWritable = FlagsArith | FlagTF | FlagIF | FlagDF | 1<<14 | 1<<18 | 1<<21
	flagsFixed    = 1 << 1
)

// StopReason says why Run returned.
type StopReason int

// Reasons for Run to return.
const (
	StopBudget StopReason = iota
	StopVMCall
	StopTrap
	StopHalt
	StopException
	StopUnimplemented
)

var stopNames = [...]string{"budget", "vmcall", "trap", "hlt", "exception", "unimplemented"}

// String names the stop reason.
func (s StopReason) String() string {
	if s >= 0 && int(s) < len(stopNames) {
		return stopNames[s]
	}
	return fmt.Sprintf("StopReason(%d)", int(s))
}

// Symbolizer maps an address to the symbol containing it and the offset
// into it; ok is false if no symbol contains it.
type Symbolizer func(addr uint64) (name string, off uint64, ok bool)

// CPUIDFunc returns the values of %eax, %ebx, %ecx and %edx for a cpuid
// leaf and subleaf.
type CPUIDFunc func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// Config configures a CPU. The zero value is usable.
type Config struct {
	// CPUID answers the cpuid instruction; nil means DefaultCPUID.
	CPUID CPUIDFunc
	// Symbolize names addresses in error messages; it may be nil.
	Symbolize Symbolizer
}

// CPUID feature bits used by this package.
const (
	// CPUID7EBXBMI1 is leaf 7, subleaf 0, %ebx bit BMI1 (tzcnt).
	CPUID7EBXBMI1 = 1 << 3
)

// DefaultCPUID describes a plain 64-bit CPU without optional extensions:
// vendor "KpatchGoEmu!", family 6, and only the base features (fpu, tsc,
// cx8, cmov, sse, sse2) in leaf 1.
func DefaultCPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) {
	switch leaf {
	case 0:
		// "KpatchGoEmu!" in ebx, edx, ecx order.
		return 7, 0x7461704b, 0x21756d45, 0x6f476863
	case 1:
		return 0x000606a0, 0, 0, 1<<0 | 1<<4 | 1<<8 | 1<<15 | 1<<25 | 1<<26
	case 0x80000000:
		return 0x80000001, 0, 0, 0
	case 0x80000001:
		return 0, 0, 0, 1<<29 | 1<<11 | 1<<20 // lm, syscall, nx
	}
	return 0, 0, 0, 0
}

// Frame is one entry of the shadow call stack.
type Frame struct {
	// Ret is the return address pushed by the call.
	Ret uint64
	// Callee is the address the call transferred to.
	Callee uint64
	// SP is %rsp after the call pushed Ret: the address of the return
	// address on the stack.
	SP uint64
}

// Context is the per-task state of a CPU: what a task switch saves and
// restores.
type Context struct {
	Regs   [16]uint64
	RIP    uint64
	RFLAGS uint64
	FSBase uint64
	GSBase uint64
	// Shadow is the shadow call stack, innermost frame last.
	Shadow []Frame
	// ResumeTrap is set when the context was saved right after a
	// StopTrap at RIP: the next Run executes the instruction at RIP
	// instead of stopping at the trap again.
	ResumeTrap bool
}

// CPU is one emulated x86-64 processor.
type CPU struct {
	// Regs are the general purpose registers, indexed by RAX..R15.
	Regs [16]uint64
	// RIP is the address of the next instruction.
	RIP uint64
	// FSBase and GSBase are the %fs and %gs segment bases.
	FSBase, GSBase uint64
	// Insns counts executed instructions (virtual nanoseconds).
	Insns uint64

	mem *mem.Memory
	cfg Config

	// Lazy flags: rflags holds the non-arithmetic bits always and the
	// arithmetic bits when fop == fNone.
	rflags           uint64
	fop, fsz         uint8
	fa, fb, fres, fx uint64

	shadow []Frame
	// branch, if set, sees every call and return executed.
	branch BranchFunc
	// shadowUnderflow counts returns that found no matching shadow frame.
	shadowUnderflow uint64

	fast  [fastSize]*block
	cache map[uint64]*block
	traps map[uint64]struct{}
	// trapResume is the trap address execution stopped at; the next Run
	// executes it instead of stopping again.
	trapResume    uint64
	trapResumeSet bool

	tzcnt bool // rep bsf runs as tzcnt

	// Per-Run scratch.
	budget uint64 // instructions left in this Run, for rep
	extra  uint64 // rep iterations beyond the first
	curN   uint64 // instructions executed in this Run before the current one
	exc    *Exception
	memErr error
	unimpl *UnimplementedError
	stop   StopReason
	decBuf [16]byte
}

// New returns a CPU executing from m. Registers start at zero, RFLAGS at
// 0x2 (interrupts disabled, direction flag clear).
func New(m *mem.Memory, cfg Config) *CPU {
	if cfg.CPUID == nil {
		cfg.CPUID = DefaultCPUID
	}
	c := &CPU{
		mem:    m,
		cfg:    cfg,
		rflags: flagsFixed,
		cache:  make(map[uint64]*block),
		traps:  make(map[uint64]struct{}),
	}
	_, ebx, _, _ := cfg.CPUID(7, 0)
	c.tzcnt = ebx&CPUID7EBXBMI1 != 0
	return c
}

// Memory returns the memory the CPU executes from.
func (c *CPU) Memory() *mem.Memory { return c.mem }

// RFLAGS returns the flags register.
func (c *CPU) RFLAGS() uint64 { return c.flags() }

// SetRFLAGS sets the flags register (reserved bits are forced to their
// fixed values).
func (c *CPU) SetRFLAGS(v uint64) {
	c.rflags = v&flagsWritable | flagsFixed
	c.fop = fNone
}

// Save returns the current context. The shadow stack is moved into the
// context, not copied: the CPU's shadow stack is empty afterwards until
// Restore.
func (c *CPU) Save() Context {
	ctx := Context{
		Regs:       c.Regs,
		RIP:        c.RIP,
		RFLAGS:     c.flags(),
		FSBase:     c.FSBase,
		GSBase:     c.GSBase,
		Shadow:     c.shadow,
		ResumeTrap: c.trapResumeSet && c.trapResume == c.RIP,
	}
	c.shadow = nil
	return ctx
}

// Restore loads a context saved by Save (or built by the machine for a new
// task). The CPU takes ownership of ctx.Shadow.
func (c *CPU) Restore(ctx Context) {
	c.Regs = ctx.Regs
	c.RIP = ctx.RIP
	c.SetRFLAGS(ctx.RFLAGS)
	c.FSBase = ctx.FSBase
	c.GSBase = ctx.GSBase
	c.shadow = ctx.Shadow
	c.trapResume, c.trapResumeSet = ctx.RIP, ctx.ResumeTrap
}

// SetSymbolizer replaces the symbolizer used in error messages (for
// example once kallsyms knows a newly loaded module).
func (c *CPU) SetSymbolizer(s Symbolizer) { c.cfg.Symbolize = s }

// Shadow returns the shadow call stack, innermost frame last. The slice
// is the CPU's own; callers must not modify it.
func (c *CPU) Shadow() []Frame { return c.shadow }

// SetShadow replaces the shadow call stack.
func (c *CPU) SetShadow(s []Frame) { c.shadow = s }

// AddTrap makes Run stop with StopTrap before executing the instruction at
// addr.
func (c *CPU) AddTrap(addr uint64) {
	if _, ok := c.traps[addr]; !ok {
		c.traps[addr] = struct{}{}
		c.FlushCode()
	}
}

// RemoveTrap undoes AddTrap.
func (c *CPU) RemoveTrap(addr uint64) {
	if _, ok := c.traps[addr]; ok {
		delete(c.traps, addr)
		c.FlushCode()
	}
}

// FlushCode drops every decoded block. Writes to memory are noticed
// without it; it is needed only after changing what decoding depends on.
func (c *CPU) FlushCode() {
	c.fast = [fastSize]*block{}
	clear(c.cache)
}

// Symbol formats addr as symbol+offset with the configured symbolizer, or
// as a bare address.
func (c *CPU) Symbol(addr uint64) string {
	if c.cfg.Symbolize != nil {
		if name, off, ok := c.cfg.Symbolize(addr); ok {
			return fmt.Sprintf("%s+%#x", name, off)
		}
	}
	return fmt.Sprintf("%#x", addr)
}

// Vector is an exception vector number.
type Vector uint8

// Exception vectors raised by the CPU.
const (
	VectorDE Vector = 0  // divide error
	VectorBP Vector = 3  // breakpoint (int3)
	VectorUD Vector = 6  // invalid opcode
	VectorGP Vector = 13 // general protection
	VectorPF Vector = 14 // page fault
)

// String returns the mnemonic of the vector (#PF etc.).
func (v Vector) String() string {
	switch v {
	case VectorDE:
		return "#DE"
	case VectorBP:
		return "#BP"
	case VectorUD:
		return "#UD"
	case VectorGP:
		return "#GP"
	case VectorPF:
		return "#PF"
	}
	return fmt.Sprintf("vector %d", uint8(v))
}

// Exception is a CPU exception. For faults (#DE, #UD, #PF) RIP is the
// faulting instruction and the instruction had no effect; for #BP RIP is
// after the int3.
type Exception struct {
	Vector Vector
	// RIP is the value of RIP the exception reports.
	RIP uint64
	// Symbol is RIP as symbol+offset.
	Symbol string
	// Addr is the faulting address (CR2) of a #PF.
	Addr uint64
	// Access is the access that faulted, for #PF.
	Access mem.Access
	// Present is true for a #PF on a mapped page (protection violation).
	Present bool
	// Bytes are the instruction bytes, for #UD.
	Bytes []byte
	// Err is the underlying error (a *mem.Fault, a decoder error), if any.
	Err error
}

// ErrorCode returns the error code the exception pushes (the page-fault
// error code for #PF; zero otherwise).
func (e *Exception) ErrorCode() uint64 {
	if e.Vector != VectorPF {
		return 0
	}
	var code uint64
	if e.Present {
		code |= 1
	}
	if e.Access == mem.AccessWrite {
		code |= 2
	}
	if e.Access == mem.AccessExec {
		code |= 16
	}
	return code
}

// Error describes the exception.
func (e *Exception) Error() string {
	switch e.Vector {
	case VectorPF:
		why := "not present"
		if e.Present {
			why = "protection"
		}
		return fmt.Sprintf("%v at %s (%#x): %s of %#x (%s)", e.Vector, e.Symbol, e.RIP, e.Access, e.Addr, why)
	case VectorUD:
		msg := fmt.Sprintf("%v at %s (%#x): bytes % x", e.Vector, e.Symbol, e.RIP, e.Bytes)
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		return msg
	}
	return fmt.Sprintf("%v at %s (%#x)", e.Vector, e.Symbol, e.RIP)
}

// Unwrap returns the underlying error.
func (e *Exception) Unwrap() error { return e.Err }

// ErrUnimplemented is matched by every *UnimplementedError.
var ErrUnimplemented = errors.New("instruction not implemented")

// UnimplementedError is an instruction that decodes but that this CPU
// does not implement.
type UnimplementedError struct {
	RIP    uint64
	Symbol string
	Bytes  []byte
	// Inst is the instruction in AT&T syntax.
	Inst string
	// Why says what is missing, if more specific than the mnemonic.
	Why string
}

// Error names the instruction, its address and its bytes.
func (e *UnimplementedError) Error() string {
	msg := fmt.Sprintf("instruction not implemented at %s (%#x): %q, bytes % x", e.Symbol, e.RIP, e.Inst, e.Bytes)
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// Is reports whether target is ErrUnimplemented.
func (e *UnimplementedError) Is(target error) bool { return target == ErrUnimplemented }
