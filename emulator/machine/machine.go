package machine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/kallsyms"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Memory map of the machine's own allocations.
const (
	// KernelHeapBase is where task structs, kernel stacks and per-CPU
	// areas are allocated (vmalloc-like, with guard pages).
	KernelHeapBase = 0xffffc90000000000
	// ModuleAreaBase is where modules are laid out, within ±2 GiB of
	// vmlinux so that 32-bit PC-relative relocations reach.
	ModuleAreaBase = 0xffffffffa0000000
	// ModuleAreaEnd ends the module area.
	ModuleAreaEnd = 0xffffffffbf000000
	// UserBase is the first user process's memory; each process gets
	// UserRegionSize bytes after the previous one.
	UserBase = 0x0000000010000000
	// UserRegionSize is the size of a process's user memory.
	UserRegionSize = 0x10000
	// ThreadSize is the size of a kernel stack (THREAD_SIZE).
	ThreadSize = abi.THREAD_SIZE
	// TaskStructSize is the size of struct task_struct.
	TaskStructSize = abi.Sizeof_task_struct
	// NrCPUs is the kernel's NR_CPUS.
	NrCPUs = abi.NR_CPUS
)

// Config configures a machine.
type Config struct {
	// CPUs is the number of virtual CPUs (1..NrCPUs); 0 means 1.
	CPUs int
	// Seed seeds the scheduler's random source.
	Seed int64
	// Quantum is the number of instructions each CPU runs per round;
	// 0 means DefaultQuantum, otherwise at least MinQuantum.
	Quantum uint64
	// CPUID is the emulated CPU's cpuid; nil means cpu.DefaultCPUID.
	CPUID cpu.CPUIDFunc
	// Console, if set, also receives everything written to the console.
	Console io.Writer
}

// DefaultQuantum is the default scheduling quantum in instructions.
const DefaultQuantum = 2000

// MinQuantum is the smallest quantum New accepts. Any quantum from it up
// works; below it the scheduler's cost per round dominates (at quantum 10
// virtual time already runs about 35 times slower than at the default).
const MinQuantum = 10

// KernelSymbols are the kernel addresses the machine needs to start
// tasks and switch them. Boot fills them in from vmlinux.
type KernelSymbols struct {
	// RetFromFork starts kernel threads (%rdi = arg, %rsi = fn).
	RetFromFork uint64
	// EntrySyscall is entry_SYSCALL_64.
	EntrySyscall uint64
	// SecondaryStartup is where secondary CPUs start.
	SecondaryStartup uint64
	// CurrentTask is the per-CPU offset of current_task.
	CurrentTask uint64
}

// HypercallFunc serves a hypercall number of the machine's extensions
// (0x100 and up): it gets the calling task and the CPU with its registers
// and returns the value for %rax. Block, if true, puts the task to sleep
// instead (the handler is responsible for waking it).
type HypercallFunc func(m *Machine, t *Task, c *cpu.CPU) (ret uint64, err error)

// TrapFunc handles a CPU stopping at a trap address (see AddTrap). It
// may change the CPU's registers, RIP included.
type TrapFunc func(m *Machine, t *Task, c *cpu.CPU) error

// VCPU is one virtual CPU of the machine.
type VCPU struct {
	// ID is the CPU number.
	ID int
	// CPU is the interpreter.
	CPU *cpu.CPU
	// PerCPU is the base of this CPU's per-CPU area (its %gs base).
	PerCPU uint64

	m        *Machine
	cur      *Task
	idle     *Task
	online   bool
	slice    uint64
	started  bool
	busy     bool   // ran a task other than the idle task since it last idled
	stopper  *Task  // the CPU's stopper thread (HC_STOPPER_CREATE), or nil
	idled    bool   // its idle task has reached the idle loop once
	used     uint64 // instructions run in the current round
	IdleTime uint64 // nanoseconds spent with nothing to run
}

// Current returns the task running on the CPU, or nil when it is idle.
func (v *VCPU) Current() *Task { return v.cur }

// Machine is the emulated computer.
type Machine struct {
	// Mem is the memory shared by all CPUs.
	Mem *mem.Memory
	// Syms is the kallsyms table (vmlinux and loaded modules).
	Syms *kallsyms.Table
	// K are the kernel addresses the machine uses.
	K KernelSymbols

	cfg     Config
	cpus    []*VCPU
	tasks   []*Task
	byPID   map[int]*Task
	runq    []*Task
	nextPID int
	now     uint64
	rng     *rand.Rand

	console   bytes.Buffer
	lineStart bool

	heap     uint64
	modArea  uint64
	userNext uint64

	traps      map[uint64]TrapFunc
	hypercalls map[uint64]HypercallFunc
	tables     []*Tables
	bootDone   bool
	onBootDone []func()
	warnCount  int
	oopsCount  int
	stopErr    error
	inRound    bool
	running    *VCPU // the CPU executing now, during a round
	watch      *progressWatch
}

// ErrStopped is returned once the machine has stopped (kernel panic,
// machine error); the wrapped error says why.
var ErrStopped = errors.New("machine stopped")

// New returns a machine with no memory mapped and no task; boot code
// loads the kernel, sets K, calls SetupPerCPU and StartBoot.
func New(cfg Config) (*Machine, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.CPUs < 1 || cfg.CPUs > NrCPUs {
		return nil, fmt.Errorf("machine: %d CPUs: must be 1..%d", cfg.CPUs, NrCPUs)
	}
	if cfg.Quantum == 0 {
		cfg.Quantum = DefaultQuantum
	}
	if cfg.Quantum < MinQuantum {
		return nil, fmt.Errorf("machine: quantum %d: must be at least %d instructions", cfg.Quantum, MinQuantum)
	}
	if cfg.CPUID == nil {
		cfg.CPUID = cpu.DefaultCPUID
	}
	m := &Machine{
		Mem:        mem.New(),
		Syms:       kallsyms.New(),
		cfg:        cfg,
		byPID:      make(map[int]*Task),
		nextPID:    1,
		rng:        rand.New(rand.NewSource(cfg.Seed)),
		lineStart:  true,
		heap:       KernelHeapBase,
		modArea:    ModuleAreaBase,
		userNext:   UserBase,
		traps:      make(map[uint64]TrapFunc),
		hypercalls: make(map[uint64]HypercallFunc),
	}
	sym := func(addr uint64) (string, uint64, bool) {
		s, off, _, ok := m.Syms.Lookup(addr)
		if !ok {
			return "", 0, false
		}
		return s.Name, off, true
	}
	for i := 0; i < cfg.CPUs; i++ {
		c := cpu.New(m.Mem, cpu.Config{CPUID: cfg.CPUID, Symbolize: sym})
		m.cpus = append(m.cpus, &VCPU{ID: i, CPU: c, m: m})
	}
	return m, nil
}

// Config returns the machine's configuration (with defaults filled in).
func (m *Machine) Config() Config { return m.cfg }

// CPUs returns the virtual CPUs.
func (m *Machine) CPUs() []*VCPU { return m.cpus }

// Now returns the virtual time in nanoseconds at the start of the current
// round (between rounds, the machine's time).
func (m *Machine) Now() uint64 { return m.now }

// clock is the time seen by code running on v.
func (m *Machine) clock(v *VCPU) uint64 { return m.now + v.used }

// Clock returns the time as the CPU executing now sees it (HC_CLOCK's
// answer): the round's start plus the instructions that CPU has run in
// the round; between rounds, Now.
func (m *Machine) Clock() uint64 {
	if m.running != nil {
		return m.clock(m.running)
	}
	return m.now
}

// Err returns why the machine stopped, or nil while it can run.
func (m *Machine) Err() error { return m.stopErr }

// CPUsUp reports whether the kernel has issued HC_BOOT_DONE and every
// CPU's idle task has reached the idle loop (the secondary CPUs have
// finished their start-up code).
func (m *Machine) CPUsUp() bool {
	if !m.bootDone {
		return false
	}
	for _, v := range m.cpus {
		if !v.idled {
			return false
		}
	}
	return true
}

// BootDone reports whether the kernel has issued HC_BOOT_DONE.
func (m *Machine) BootDone() bool { return m.bootDone }

// OnBootDone registers fn to run when the kernel issues HC_BOOT_DONE
// (right away if it already has).
func (m *Machine) OnBootDone(fn func()) {
	if m.bootDone {
		fn()
		return
	}
	m.onBootDone = append(m.onBootDone, fn)
}

// Warnings returns the number of WARNINGs reported so far.
func (m *Machine) Warnings() int { return m.warnCount }

// Oopses returns the number of oopses (BUGs and unhandled faults).
func (m *Machine) Oopses() int { return m.oopsCount }

func (m *Machine) stop(err error) {
	if m.stopErr == nil {
		m.stopErr = fmt.Errorf("%w: %w", ErrStopped, err)
	}
}

// AllocKernel maps size bytes (rounded up to pages) of zeroed kernel
// memory with permissions perm, followed by an unmapped guard page, and
// returns its address.
func (m *Machine) AllocKernel(size uint64, perm mem.Perm) (uint64, error) {
	size = pageRound(size)
	addr := m.heap
	if err := m.Mem.Map(addr, size, perm); err != nil {
		return 0, err
	}
	m.heap += size + mem.PageSize
	return addr, nil
}

// AllocModule reserves size bytes (page-rounded) of the module area,
// unmapped; the loader maps what it needs. Addresses are not reused.
func (m *Machine) AllocModule(size uint64) (uint64, error) {
	size = pageRound(size)
	if m.modArea+size > ModuleAreaEnd {
		return 0, fmt.Errorf("machine: module area exhausted (%d bytes wanted)", size)
	}
	addr := m.modArea
	m.modArea += size + mem.PageSize
	return addr, nil
}

func pageRound(n uint64) uint64 { return (n + mem.PageMask) &^ uint64(mem.PageMask) }

// SetKernelSymbols records the kernel addresses the machine needs.
func (m *Machine) SetKernelSymbols(k KernelSymbols) { m.K = k }

// SetupPerCPU allocates one per-CPU area per CPU, each a copy of image
// (the .data..percpu contents), and points each CPU's %gs base at its
// area. It returns the areas' base addresses.
func (m *Machine) SetupPerCPU(image []byte) ([]uint64, error) {
	var bases []uint64
	size := uint64(len(image))
	if size == 0 {
		size = 1
	}
	for _, v := range m.cpus {
		base, err := m.AllocKernel(size, mem.PermRW)
		if err != nil {
			return nil, err
		}
		if err := m.Mem.Poke(base, image); err != nil {
			return nil, err
		}
		v.PerCPU = base
		v.CPU.GSBase = base
		bases = append(bases, base)
	}
	return bases, nil
}

// AddTrap makes every CPU stop before executing addr and call fn.
func (m *Machine) AddTrap(addr uint64, fn TrapFunc) {
	m.traps[addr] = fn
	for _, v := range m.cpus {
		v.CPU.AddTrap(addr)
	}
}

// RemoveTrap undoes AddTrap.
func (m *Machine) RemoveTrap(addr uint64) {
	delete(m.traps, addr)
	for _, v := range m.cpus {
		v.CPU.RemoveTrap(addr)
	}
}

// Traps returns the number of trap addresses registered.
func (m *Machine) Traps() int { return len(m.traps) }

// HandleHypercall registers fn for hypercall number nr (0x100 and up).
func (m *Machine) HandleHypercall(nr uint64, fn HypercallFunc) error {
	if nr < 0x100 {
		return fmt.Errorf("machine: hypercall %#x is reserved for the kernel ABI", nr)
	}
	m.hypercalls[nr] = fn
	return nil
}

// StartBoot creates CPU 0's boot task (it becomes CPU 0's idle task),
// which starts at entry with %rsp at stackTop, on the stack
// [stackTop-ThreadSize, stackTop).
func (m *Machine) StartBoot(entry, stackTop uint64) (*Task, error) {
	t, err := m.newTask("swapper/0", KindIdle, stackTop-ThreadSize)
	if err != nil {
		return nil, err
	}
	t.ctx.RIP = entry
	t.ctx.Regs[cpu.RSP] = stackTop
	v := m.cpus[0]
	v.idle = t
	v.online = true
	t.State = Runnable
	return t, nil
}

// RunFor runs the machine for ns nanoseconds of virtual time.
func (m *Machine) RunFor(ns uint64) error {
	return m.RunUntil(func() bool { return false }, m.now+ns)
}

// RunUntil runs whole rounds until done returns true (checked between
// rounds) or the virtual time reaches deadline; reaching the deadline is
// not an error.
func (m *Machine) RunUntil(done func() bool, deadline uint64) error {
	for m.now < deadline {
		if m.stopErr != nil {
			return m.stopErr
		}
		if done() {
			return nil
		}
		m.round(deadline)
	}
	if m.stopErr != nil {
		return m.stopErr
	}
	return nil
}

// round runs one round, or jumps ahead when every CPU is idle.
func (m *Machine) round(deadline uint64) {
	m.fireTimers()
	if len(m.runq) == 0 && m.allIdle() {
		next := deadline
		for _, t := range m.tasks {
			if t.State == Sleeping && t.deadline != 0 && t.deadline < next {
				next = t.deadline
			}
		}
		if next > m.now {
			for _, v := range m.cpus {
				if v.online {
					v.IdleTime += next - m.now
				}
			}
			m.now = next
			return
		}
	}
	q := m.cfg.Quantum
	order := m.rng.Perm(len(m.cpus))
	m.inRound = true
	for _, i := range order {
		v := m.cpus[i]
		if !v.online {
			continue
		}
		v.used = 0
		m.running = v
		m.runCPU(v, q)
		m.running = nil
		if m.stopErr != nil {
			break
		}
	}
	m.inRound = false
	for _, v := range m.cpus {
		v.used = 0
	}
	m.now += q
}

func (m *Machine) allIdle() bool {
	for _, v := range m.cpus {
		if !v.online {
			continue
		}
		if v.cur != nil || v.busy || (v.idle != nil && v.idle.State == Runnable) || v.stopperWaiting() {
			return false
		}
	}
	return true
}

// fireTimers wakes the sleepers whose timeout has expired.
func (m *Machine) fireTimers() {
	for _, t := range m.tasks {
		if t.State == Sleeping && t.deadline != 0 && t.deadline <= m.now {
			t.ctx.Regs[cpu.RAX] = 0
			m.makeRunnable(t)
		}
	}
}

// newSlice draws a time slice: Quantum/2 plus up to Quantum instructions,
// and at least one (a slice of 0 would never let its task run).
func (m *Machine) newSlice() uint64 {
	q := m.cfg.Quantum
	return max(1, q/2+uint64(m.rng.Int63n(int64(q))))
}

// pick returns the next task for v: the head of the run queue, else v's
// idle task if it is runnable, else nil.
func (m *Machine) pick(v *VCPU) *Task {
	if v.idle != nil && !v.started {
		// A CPU coming online runs its idle task's startup code first.
		v.started = true
		return v.idle
	}
	if v.stopper != nil && v.stopper.State == Runnable && m.waitReady(v, v.stopper) {
		return v.stopper
	}
	for i, t := range m.runq {
		if t.held || !m.waitReady(v, t) {
			continue
		}
		m.runq = append(m.runq[:i:i], m.runq[i+1:]...)
		return t
	}
	if v.idle != nil && (v.idle.State == Runnable || v.idle.State == Sleeping && v.busy) {
		// Back to the idle loop, which parks again at once.
		v.idle.State = Runnable
		return v.idle
	}
	return nil
}

// waitReady reports whether t, runnable, can start on v (which has
// nothing to run) in this round: a task woken at some time by code on
// another CPU cannot run earlier than that on v's clock, so v idles until
// then if that is within the round.
func (m *Machine) waitReady(v *VCPU, t *Task) bool {
	now := m.clock(v)
	if t.readyAt <= now {
		return true
	}
	if t.readyAt >= m.now+m.cfg.Quantum {
		return false
	}
	v.IdleTime += t.readyAt - now
	v.used = t.readyAt - m.now
	return true
}

// switchTo makes t v's current task (v has none).
func (m *Machine) switchTo(v *VCPU, t *Task) {
	ctx := t.ctx
	t.ctx = cpu.Context{}
	ctx.GSBase = v.PerCPU
	v.CPU.Restore(ctx)
	if m.K.CurrentTask != 0 {
		_ = m.Mem.Write64(v.PerCPU+m.K.CurrentTask, t.Struct)
	}
	v.cur = t
	t.cpu = v
	t.started = true
	t.LastCPU = v.ID
	t.State = Running
	v.busy = t != v.idle
	v.slice = m.newSlice()
}

// deschedule saves v's current task and leaves v without one.
func (m *Machine) deschedule(v *VCPU) *Task {
	t := v.cur
	if t == nil {
		return nil
	}
	t.ctx = v.CPU.Save()
	t.cpu = nil
	v.cur = nil
	return t
}

// preempt puts v's task back on the run queue if another task wants the
// CPU. A woken stopper thread takes the CPU first, and the task it
// displaces goes to the head of the run queue (it resumes as soon as a CPU
// is free, as it would on its own CPU's run queue in Linux).
func (m *Machine) preempt(v *VCPU) {
	t := v.cur
	if v.stopperWaiting() {
		m.deschedule(v)
		t.State = Runnable
		if t != v.idle {
			m.runq = append([]*Task{t}, m.runq...)
		}
		return
	}
	if !m.othersWaiting() {
		v.slice = m.newSlice()
		return
	}
	m.deschedule(v)
	t.State = Runnable
	if t != v.idle {
		m.runq = append(m.runq, t)
	}
}

// othersWaiting reports whether some task on the run queue can be picked.
func (m *Machine) othersWaiting() bool {
	for _, t := range m.runq {
		if !t.held {
			return true
		}
	}
	return false
}

// stopperWaiting reports whether v's stopper thread is woken and not yet
// running.
func (v *VCPU) stopperWaiting() bool {
	return v.stopper != nil && v.stopper.State == Runnable && v.cur != v.stopper &&
		v.stopper.readyAt <= v.m.clock(v)
}

// preemptionPoint is where v's current task may be switched out:
// cond_resched() (HC_YIELD with a non-zero argument) and the return to
// user space. The task leaves the CPU if its stopper thread is waiting,
// or if its time slice is used up and another task wants the CPU (Linux's
// need_resched under voluntary preemption).
func (m *Machine) preemptionPoint(v *VCPU) {
	if v.stopperWaiting() || v.slice == 0 {
		m.preempt(v)
	}
}

func (m *Machine) makeRunnable(t *Task) {
	t.deadline = 0
	t.State = Runnable
	t.readyAt = m.Clock()
	if t.Kind == KindIdle || t.bound != nil {
		// Idle tasks and stopper threads are picked by their own CPU.
		return
	}
	m.runq = append(m.runq, t)
}

// runCPU runs v for budget instructions.
func (m *Machine) runCPU(v *VCPU, budget uint64) {
	for v.used < budget && m.stopErr == nil {
		if v.cur == nil {
			t := m.pick(v)
			if t == nil {
				m.noteIdle(v, m.clock(v), budget-v.used)
				v.IdleTime += budget - v.used
				v.used = budget
				return
			}
			m.switchTo(v, t)
		}
		t := v.cur
		if t.user != nil && t.inUser {
			if m.watch != nil {
				m.watch.progress(v.ID)
			}
			m.userStep(v, t, budget)
			continue
		}
		// Kernel code is preempted only at preemption points (voluntary
		// preemption, Debian's default): it runs until the round's
		// budget is used up, and its time slice only counts down.
		n := budget - v.used
		start := m.clock(v)
		ran, reason, err := v.CPU.Run(n)
		m.noteRun(v, t, start, ran)
		v.used += ran
		v.slice -= min(v.slice, ran)
		switch reason {
		case cpu.StopBudget:
		case cpu.StopVMCall:
			m.hypercall(v, t)
		case cpu.StopTrap:
			fn := m.traps[v.CPU.RIP]
			if fn == nil {
				m.stop(fmt.Errorf("trap at %s with no handler", m.Syms.Format(v.CPU.RIP)))
				return
			}
			if err := fn(m, t, v.CPU); err != nil {
				m.stop(err)
				return
			}
		case cpu.StopException:
			m.exception(v, t, err)
		case cpu.StopHalt:
			m.stop(fmt.Errorf("CPU %d: hlt at %s in %s", v.ID, m.Syms.Format(v.CPU.RIP-1), t))
		default:
			m.stop(fmt.Errorf("CPU %d: %s: %w", v.ID, t, err))
		}
	}
}
