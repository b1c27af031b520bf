package livepatch

import (
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Model is a consistency model (struct klp_patch.model).
type Model int

// The consistency models.
const (
	// Hybrid is Linux's per-task model: each task switches when its
	// stack holds none of the functions or when it returns to user space.
	Hybrid Model = abi.KLP_MODEL_HYBRID
	// Immediate redirects at once, with no checks.
	Immediate Model = abi.KLP_MODEL_IMMEDIATE
	// StopMachine is kpatch's: every CPU is held while every task's
	// stack is checked; the patch applies at once or fails with busy.
	StopMachine Model = abi.KLP_MODEL_STOP_MACHINE
	// Refcount counts the entries into and exits from the functions
	// being patched and switches when no task is inside them.
	Refcount Model = abi.KLP_MODEL_REFCOUNT
)

var modelNames = [...]string{"hybrid", "immediate", "stop_machine", "refcount"}

// String returns the model's name.
func (m Model) String() string {
	if m >= 0 && int(m) < len(modelNames) {
		return modelNames[m]
	}
	return fmt.Sprintf("model(%d)", int(m))
}

// ParseModel parses a model name.
func ParseModel(s string) (Model, error) {
	for i, n := range modelNames {
		if n == s {
			return Model(i), nil
		}
	}
	return 0, fmt.Errorf("unknown consistency model %q (have %s)", s, strings.Join(modelNames[:], ", "))
}

// Per-function flags (struct klp_func.flags).
const (
	FuncForce     = abi.KLP_FUNC_FORCE
	FuncImmediate = abi.KLP_FUNC_IMMEDIATE
)

// Errno values the core returns to C.
const (
	errnoENOENT = abi.ENOENT
	errnoENOMEM = abi.ENOMEM
	errnoEBUSY  = abi.EBUSY
	errnoEINVAL = abi.EINVAL
)

// SignalsTimeout is the number of failed retries of a per-task transition
// after which (and after every further SignalsTimeout) the blocking tasks
// are signalled (Linux's SIGNALS_TIMEOUT).
const SignalsTimeout = 15

// Core is the livepatch core of a booted kernel.
type Core struct {
	K *boot.Kernel
	M *machine.Machine

	// RetryPeriod is how often the transition worker retries a
	// transition (Linux: every second), in virtual ns. After every
	// SignalsTimeout failed retries it signals the tasks that block it.
	RetryPeriod uint64
	// StackSeen, if set, is called for every stack the C stack checks
	// walk while KLP_CHECK_REPORT is on (see ReportStacks): the task and
	// the walk's addresses (%rip first), and whether the walk is
	// reliable. Tests compare them with the machine's shadow stacks.
	StackSeen func(t *machine.Task, entries []uint64, reliable bool)

	patches    []*Patch // registered (enabled or in transition), oldest first
	gone       []*Patch // disabled patches whose module is still loaded
	funcs      map[uint64]*funcOps
	trans      *transition
	worker     *machine.Task
	sessions   map[*machine.Task]*session
	syscallRet uint64
	exitTramp  uint64
	// Reports are the transitions finished (completed or failed), in
	// order.
	Reports  []Report
	workerFn uint64
	// The C stack checks and their struct klp_check.
	stopCheckFn, tryCompleteFn, countStacksFn uint64
	chk, chkCap                               uint64
	// The struct module of each module a callback was given, in pages
	// of kernel memory (klp_object.mod).
	modStructs map[string]uint64
	modPage    uint64
	modNext    uint64
	// completing is the patch whose completion callbacks run (the
	// transition is over, but klp_get_prev_state still skips it).
	completing *Patch
	// checker is the consistency checker (Check), or nil; forcing and
	// going say that the versions tasks run change because a transition
	// is forced or a module goes away.
	checker        *Checker
	forcing, going bool
	// mutation is a deliberate bug for the tests that show the checker
	// catches it (see export_test.go); "" in normal use.
	mutation string
}

// Report is what one transition cost, in virtual time.
type Report struct {
	Patch string
	Model Model
	// Op is "patching" or "unpatching".
	Op string
	// Start and End are virtual times; End-Start is the time until the
	// transition completed or failed.
	Start, End uint64
	// Completed is false when the transition failed (Err says why) or
	// was reversed.
	Completed bool
	Err       string
	// GlobalPause is how long every CPU was held (stop_machine), as the
	// kernel's stop_machine() measured it with its clock reads: from the
	// moment the first CPU stopped to the moment the last one left.
	GlobalPause uint64
	// MaxTaskPause is the longest any one task was held: under the
	// per-task model and the reference-counting scan, the longest hold
	// of one task while its stack was checked (measured by the C code);
	// under stop_machine, the global pause.
	MaxTaskPause uint64
	// CPUStall is the longest stretch any CPU made no progress while the
	// checks ran (machine.WatchProgress: it ran its stopper thread, or
	// idled while a runnable task was held), measured under every model:
	// about the pause under stop_machine, what the per-task and
	// reference-counting models cost the other CPUs otherwise.
	CPUStall uint64
	// Tasks is the number of live tasks when the transition started.
	Tasks int
	// Tries is the number of attempts; Signalled and Forced say whether
	// tasks were signalled or the transition was forced.
	Tries     int
	Signalled bool
	Forced    bool
	Reversed  bool
}

// Duration is the time from start to completion or failure.
func (r Report) Duration() uint64 { return r.End - r.Start }

// String renders the report in one line.
func (r Report) String() string {
	res := "completed"
	if !r.Completed {
		res = "failed: " + r.Err
		if r.Reversed {
			res = "reversed"
		}
	}
	return fmt.Sprintf("%s %s (%s): %s after %d ns, global pause %d ns, longest task pause %d ns, %d tries",
		r.Patch, r.Op, r.Model, res, r.End-r.Start, r.GlobalPause, r.MaxTaskPause, r.Tries)
}

// New attaches a livepatch core to a booted kernel: it serves the klp
// hypercalls and hooks the module loader for late module patching.
func New(k *boot.Kernel) (*Core, error) {
	c := &Core{K: k, M: k.M, RetryPeriod: 1_000_000_000,
		funcs: map[uint64]*funcOps{}, sessions: map[*machine.Task]*session{}, modStructs: map[string]uint64{}}
	for nr, fn := range map[uint64]machine.HypercallFunc{
		abi.HC_KLP_ENABLE: c.hcEnable, abi.HC_KLP_GET_STATE: c.hcGetState, abi.HC_KLP_GET_PREV_STATE: c.hcGetPrevState,
		abi.HC_KLP_CONTINUE: c.hcContinue, abi.HC_KLP_WORK: c.hcWork,
		abi.HC_KLP_SWITCH: c.hcSwitch, abi.HC_KLP_REFCOUNT: c.hcRefcount, abi.HC_KLP_STACK_SEEN: c.hcStackSeen,
	} {
		if err := k.M.HandleHypercall(nr, fn); err != nil {
			return nil, err
		}
	}
	var ok bool
	for name, p := range map[string]*uint64{"klp_transition_worker": &c.workerFn,
		"klp_stop_machine_check": &c.stopCheckFn, "klp_try_complete_transition": &c.tryCompleteFn,
		"klp_count_stacks": &c.countStacksFn} {
		if *p, ok = k.Symbols[name]; !ok {
			return nil, fmt.Errorf("livepatch: vmlinux has no %s", name)
		}
	}
	// The return to user space: the HC_SYSCALL_RETURN vmcall of
	// entry_SYSCALL_64.
	entry := k.Symbols["entry_SYSCALL_64"]
	var b [64]byte
	if err := k.M.Mem.Peek(entry, b[:]); err != nil {
		return nil, err
	}
	i := cpu.FindVMCall(b[:])
	if i >= 0 {
		c.syscallRet = entry + uint64(i)
	}
	if i < 0 {
		return nil, errors.New("livepatch: no vmcall in entry_SYSCALL_64")
	}
	k.M.AddTrap(c.syscallRet, c.trapSyscallReturn)
	// The exit trampoline of the reference-counting model.
	tr, err := k.M.AllocModule(mem.PageSize)
	if err != nil {
		return nil, err
	}
	if err := k.M.Mem.Map(tr, mem.PageSize, mem.PermRX); err != nil {
		return nil, err
	}
	_ = k.M.Mem.Poke(tr, []byte{0xc3})
	c.exitTramp = tr
	k.M.AddTrap(tr, c.trapExit)
	k.Loader.Coming = c.moduleComing
	k.Loader.Removable = c.moduleRemovable
	k.Loader.Going = c.moduleGoing
	return c, nil
}

func (c *Core) printf(format string, args ...any) {
	c.M.Printf("livepatch: "+format, args...)
}

// --- the call protocol ---------------------------------------------------

// caller runs a kernel function fn(arg) on some task and returns its
// result.
type caller func(fn, arg uint64) int64

type callReq struct{ fn, arg uint64 }

type session struct {
	next   func() (callReq, bool)
	stop   func()
	reply  int64
	result int64
	call   uint64 // struct klp_call address
}

type sessionStop struct{}

// startSession runs body as a coroutine of task t: each call it makes is
// handed to the C side (KLP_CALL) and resumed by HC_KLP_CONTINUE.
func (c *Core) startSession(t *machine.Task, callAddr uint64, body func(call caller) int64) uint64 {
	s := &session{call: callAddr}
	seq := func(yield func(callReq) bool) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(sessionStop); !ok {
					panic(r)
				}
			}
		}()
		s.result = body(func(fn, arg uint64) int64 {
			if !yield(callReq{fn, arg}) {
				panic(sessionStop{})
			}
			return s.reply
		})
	}
	s.next, s.stop = iter.Pull(seq)
	return c.step(t, s)
}

func (c *Core) step(t *machine.Task, s *session) uint64 {
	r, ok := s.next()
	if ok {
		c.sessions[t] = s
		_ = c.M.Mem.Write64(s.call+abi.Offsetof_klp_call_fn, r.fn)
		_ = c.M.Mem.Write64(s.call+abi.Offsetof_klp_call_arg, r.arg)
		return abi.KLP_CALL
	}
	delete(c.sessions, t)
	return uint64(s.result)
}

func (c *Core) hcContinue(m *machine.Machine, t *machine.Task, cp *cpu.CPU) (uint64, error) {
	s := c.sessions[t]
	if s == nil {
		return 0, fmt.Errorf("livepatch: HC_KLP_CONTINUE from %s, which has no call pending", t)
	}
	ret, _ := m.Mem.Read64(s.call + abi.Offsetof_klp_call_ret)
	s.reply = int64(ret)
	return c.step(t, s), nil
}

// kernelCaller runs calls in kernel threads, between rounds (for the Go
// API and the module loader's hooks).
func (c *Core) kernelCaller(fn, arg uint64) int64 {
	ret, err := c.M.CallKernel("klp_callback", fn, arg, 100_000_000)
	if err != nil {
		c.printf("callback %s: %v", c.M.Syms.Format(fn), err)
		return -errnoEINVAL
	}
	return ret
}

// moduleStruct returns the struct module the core keeps for the module
// name, with state written into it.
func (c *Core) moduleStruct(name string, state int) (uint64, error) {
	a, ok := c.modStructs[name]
	if !ok {
		if c.modPage == 0 || c.modNext+moduleSlotSize > mem.PageSize {
			p, err := c.M.AllocKernel(mem.PageSize, mem.PermRW)
			if err != nil {
				return 0, err
			}
			c.modPage, c.modNext = p, 0
		}
		a = c.modPage + c.modNext
		c.modNext += moduleSlotSize
		b := make([]byte, abi.MODULE_NAME_LEN)
		copy(b[:abi.MODULE_NAME_LEN-1], name)
		if err := c.M.Mem.Poke(a+abi.Offsetof_module_name, b); err != nil {
			return 0, err
		}
		c.modStructs[name] = a
	}
	return a, c.M.Mem.Write32(a, uint32(state))
}

// callObj runs the callback fn of object o (if it has one), with
// o->mod pointing at the module's struct module in the given state
// (NULL for vmlinux), as Linux's callbacks see it.
func (c *Core) callObj(call caller, fn uint64, o *Object, state int) int64 {
	if fn == 0 {
		return 0
	}
	var mod uint64
	if o.Name != "" {
		var err error
		if mod, err = c.moduleStruct(o.Name, state); err != nil {
			c.printf("callback %s: struct module of %s: %v", c.M.Syms.Format(fn), o.Name, err)
			return -errnoENOMEM
		}
	}
	if err := c.M.Mem.Write64(o.Addr+abi.Offsetof_klp_object_mod, mod); err != nil {
		c.printf("callback %s: struct klp_object at %#x: %v", c.M.Syms.Format(fn), o.Addr, err)
		return -errnoEINVAL
	}
	return call(fn, o.Addr)
}

// busy reports whether a session is running on some task; the Go API
// waits for it to finish first (Linux's klp_mutex).
func (c *Core) waitIdle() error {
	return c.M.RunUntil(func() bool { return len(c.sessions) == 0 }, c.M.Now()+1_000_000_000)
}

// --- funcs and ftrace ------------------------------------------------------

// funcOps is the ftrace ops of one patched function with its stack of
// patches, newest first (Linux's struct klp_ops).
type funcOps struct {
	addr  uint64
	ops   *ftrace.Ops
	stack []*Func
}

func (c *Core) pushFunc(f *Func) error {
	fo := c.funcs[f.OldAddr]
	if fo == nil {
		fo = &funcOps{addr: f.OldAddr}
		fo.ops = &ftrace.Ops{Name: "livepatch", Flags: ftrace.FlagIPModify | ftrace.FlagPermanent, Func: func(ip, parent uint64, regs *ftrace.Regs) { c.handler(fo, regs) }}
		if err := c.K.Ftrace.Register(f.OldAddr, fo.ops); err != nil {
			return err
		}
		c.funcs[f.OldAddr] = fo
	}
	fo.stack = append([]*Func{f}, fo.stack...)
	f.patched = true
	c.noteChange(nil)
	return nil
}

func (c *Core) popFunc(f *Func) {
	fo := c.funcs[f.OldAddr]
	if fo == nil || !f.patched {
		return
	}
	for i, g := range fo.stack {
		if g == f {
			fo.stack = append(fo.stack[:i:i], fo.stack[i+1:]...)
			break
		}
	}
	f.patched = false
	if len(fo.stack) == 0 {
		_ = c.K.Ftrace.Unregister(f.OldAddr, fo.ops)
		delete(c.funcs, f.OldAddr)
	}
	c.noteChange(nil)
}

// handler is the ftrace handler of a patched function (Linux's
// klp_ftrace_handler): the newest patch wins, except for a task that has
// not yet switched during a transition, which keeps the previous one.
func (c *Core) handler(fo *funcOps, regs *ftrace.Regs) {
	if len(fo.stack) == 0 {
		return
	}
	i := 0
	f := fo.stack[0]
	if f.transition && c.trans != nil {
		tr := c.trans
		if tr.patch.Model == Refcount && !tr.switched {
			c.countEntry(fo, regs)
			if tr.target == patched {
				i = 1
			}
		} else if c.taskState(regs.Task) == unpatched && c.mutation != mutationHandlerIgnoresState {
			i = 1
		}
	}
	if i >= len(fo.stack) {
		return // the original function
	}
	f = fo.stack[i]
	if f.nop {
		return
	}
	regs.IP = f.NewFunc
}

// --- hypercalls ---------------------------------------------------------

func (c *Core) hcEnable(m *machine.Machine, t *machine.Task, cp *cpu.CPU) (uint64, error) {
	patchAddr, callAddr := cp.Regs[cpu.RDI], cp.Regs[cpu.RSI]
	if callAddr == 0 {
		return uint64(errno(errnoEINVAL)), nil
	}
	return c.startSession(t, callAddr, func(call caller) int64 {
		return c.enable(t, patchAddr, call)
	}), nil
}

func (c *Core) hcWork(m *machine.Machine, t *machine.Task, cp *cpu.CPU) (uint64, error) {
	callAddr := cp.Regs[cpu.RDI]
	return c.startSession(t, callAddr, func(call caller) int64 {
		sleep := c.work(call)
		_ = m.Mem.Write64(callAddr+abi.Offsetof_klp_call_sleep, sleep)
		return 0
	}), nil
}

func (c *Core) hcGetState(m *machine.Machine, t *machine.Task, cp *cpu.CPU) (uint64, error) {
	patchAddr, id := cp.Regs[cpu.RDI], cp.Regs[cpu.RSI]
	for _, s := range c.readStates(patchAddr) {
		if s.ID == id {
			return s.Addr, nil
		}
	}
	return 0, nil
}

// hcGetPrevState finds the state in the newest enabled patch other than
// the one being enabled (Linux's klp_get_prev_state).
func (c *Core) hcGetPrevState(m *machine.Machine, t *machine.Task, cp *cpu.CPU) (uint64, error) {
	id := cp.Regs[cpu.RDI]
	tp := c.completing
	if c.trans != nil {
		tp = c.trans.patch
	}
	for i := len(c.patches) - 1; i >= 0; i-- {
		p := c.patches[i]
		if p == tp {
			continue
		}
		for _, s := range p.States {
			if s.ID == id {
				return s.Addr, nil
			}
		}
	}
	return 0, nil
}

// wakeWorker starts the transition worker, or wakes it.
func (c *Core) wakeWorker() {
	if c.worker == nil || c.worker.State == machine.Dead {
		t, err := c.M.NewKthread("klp_transition", c.workerFn, 0)
		if err != nil {
			c.printf("cannot start the transition worker: %v", err)
			return
		}
		c.worker = t
		return
	}
	c.M.Wake(c.worker.PID)
}

// mutationHandlerIgnoresState is the deliberate bug of the handler
// ignoring the task's patch state (Core.mutation; tests only).
const mutationHandlerIgnoresState = "handler-ignores-task-state"
