package machine

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// TaskState is the scheduling state of a task.
type TaskState int

// Task states.
const (
	// Runnable tasks wait for a CPU (idle tasks: are not parked).
	Runnable TaskState = iota
	// Running tasks are some CPU's current task.
	Running
	// Sleeping tasks wait for a wake-up or a timeout.
	Sleeping
	// Dead tasks have exited or were killed.
	Dead
)

// String returns the ps-style letter of the state.
func (s TaskState) String() string {
	return [...]string{"R", "R", "S", "X"}[s]
}

// TaskKind says what a task is.
type TaskKind int

// Task kinds.
const (
	// KindIdle is a CPU's idle task.
	KindIdle TaskKind = iota
	// KindKernel is a kernel thread.
	KindKernel
	// KindUser is a user process.
	KindUser
)

// String names the kind.
func (k TaskKind) String() string { return [...]string{"idle", "kthread", "user"}[k] }

// Task flags (task_struct.flags), as in Linux.
const (
	PFIdle    = abi.PF_IDLE
	PFExiting = abi.PF_EXITING
	PFKthread = abi.PF_KTHREAD
)

// Task is a task of the machine.
type Task struct {
	// PID is the task id (> 0).
	PID int
	// Comm is the task's name.
	Comm string
	// Kind says whether it is an idle task, a kernel thread or a user
	// process.
	Kind TaskKind
	// State is the scheduling state.
	State TaskState
	// Struct is the address of the task's struct task_struct.
	Struct uint64
	// StackLo and StackHi bound the kernel stack.
	StackLo, StackHi uint64
	// LastCPU is the CPU the task last ran on.
	LastCPU int
	// ExitCode is the code the task exited with.
	ExitCode int64
	// Killed is set when an oops killed the task.
	Killed bool
	// Restarts counts the user process's system calls that a signal
	// interrupted and the kernel restarted (see SignalFake).
	Restarts int

	ctx         cpu.Context
	cpu         *VCPU
	wakePending bool
	deadline    uint64 // timer expiry of a timed sleep, 0 for none
	inHypercall uint64 // the blocking hypercall the task sleeps in
	user        *User
	inUser      bool
	onExit      []func(*Task)
	bound       *VCPU  // a stopper thread's CPU
	held        bool   // not to be scheduled (HC_TASK_HOLD)
	started     bool   // has run at least once
	readyAt     uint64 // when it became runnable (the waker's clock)
}

// String describes the task as "comm[pid]".
func (t *Task) String() string { return fmt.Sprintf("%s[%d]", t.Comm, t.PID) }

// CPU returns the CPU the task is running on, or nil.
func (t *Task) CPU() *VCPU { return t.cpu }

// InUser reports whether a user process is in user space (between two
// system calls).
func (t *Task) InUser() bool { return t.user != nil && t.inUser }

// OnExit registers fn to be called when the task exits or is killed.
func (t *Task) OnExit(fn func(*Task)) { t.onExit = append(t.onExit, fn) }

// Context returns the task's registers: the live ones if it is running.
func (t *Task) Context() cpu.Context {
	if t.cpu != nil {
		c := t.cpu.CPU
		return cpu.Context{Regs: c.Regs, RIP: c.RIP, RFLAGS: c.RFLAGS(), FSBase: c.FSBase, GSBase: c.GSBase, Shadow: c.Shadow()}
	}
	return t.ctx
}

// Tasks returns every task ever created, in creation order.
func (m *Machine) Tasks() []*Task { return m.tasks }

// Task returns the task with the given pid, or nil.
func (m *Machine) Task(pid int) *Task { return m.byPID[pid] }

// newTask allocates a task_struct and, if stackLo is 0, a kernel stack.
func (m *Machine) newTask(comm string, kind TaskKind, stackLo uint64) (*Task, error) {
	if len(comm) > 15 {
		comm = comm[:15]
	}
	ts, err := m.AllocKernel(TaskStructSize, mem.PermRW)
	if err != nil {
		return nil, err
	}
	if stackLo == 0 {
		if stackLo, err = m.AllocKernel(ThreadSize, mem.PermRW); err != nil {
			return nil, err
		}
	}
	t := &Task{PID: m.nextPID, Comm: comm, Kind: kind, Struct: ts,
		StackLo: stackLo, StackHi: stackLo + ThreadSize, State: Runnable, readyAt: m.Clock()}
	m.nextPID++
	var flags uint32
	switch kind {
	case KindIdle:
		flags = PFIdle
	case KindKernel:
		flags = PFKthread
	}
	var b [TaskStructSize]byte
	le32(b[abi.Offsetof_task_struct_pid:], uint32(t.PID))
	le32(b[abi.Offsetof_task_struct_flags:], flags)
	le64(b[abi.Offsetof_task_struct_stack:], stackLo)
	le64(b[abi.Offsetof_task_struct_stack_size:], ThreadSize)
	copy(b[abi.Offsetof_task_struct_comm:abi.Offsetof_task_struct_comm+abi.TASK_COMM_LEN-1], comm)
	if err := m.Mem.Poke(ts, b[:]); err != nil {
		return nil, err
	}
	t.ctx.RFLAGS = 0x2
	m.tasks = append(m.tasks, t)
	m.byPID[t.PID] = t
	return t, nil
}

// NewKthread creates a kernel thread that runs fn(arg) from ret_from_fork
// and puts it on the run queue.
func (m *Machine) NewKthread(comm string, fn, arg uint64) (*Task, error) {
	t, err := m.newTask(comm, KindKernel, 0)
	if err != nil {
		return nil, err
	}
	t.ctx.RIP = m.K.RetFromFork
	t.ctx.Regs[cpu.RSP] = t.StackHi
	t.ctx.Regs[cpu.RDI] = arg
	t.ctx.Regs[cpu.RSI] = fn
	m.runq = append(m.runq, t)
	return t, nil
}

// CallKernel runs fn(arg) in a new kernel thread named comm and runs the
// machine until it returns (at most limit nanoseconds of virtual time). It
// returns the function's result, or an error if the task was killed, the
// machine stopped or the time ran out. This is how the module loader runs
// init and exit functions.
func (m *Machine) CallKernel(comm string, fn, arg uint64, limit uint64) (int64, error) {
	t, err := m.NewKthread(comm, fn, arg)
	if err != nil {
		return 0, err
	}
	if err := m.RunUntil(func() bool { return t.State == Dead }, m.now+limit); err != nil {
		return 0, err
	}
	switch {
	case t.State != Dead:
		return 0, fmt.Errorf("%s: did not finish in %d ns of virtual time", t, limit)
	case t.Killed:
		return 0, fmt.Errorf("%s: killed by an oops", t)
	}
	return t.ExitCode, nil
}

// exit ends t (the current task of v, or a task not running).
func (m *Machine) exit(t *Task, code int64) {
	if t.cpu != nil {
		m.deschedule(t.cpu)
	}
	t.State = Dead
	t.ExitCode = code
	t.deadline = 0
	for i, q := range m.runq {
		if q == t {
			m.runq = append(m.runq[:i], m.runq[i+1:]...)
			break
		}
	}
	if t.user != nil {
		t.user.stop()
	}
	for _, fn := range t.onExit {
		fn(t)
	}
}

func le32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func le64(b []byte, v uint64) {
	le32(b, uint32(v))
	le32(b[4:], uint32(v>>32))
}
