package machine

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/target/cpu"
)

// Hypercall numbers (target/kernel/arch/x86/include/asm/hypercall.h).
const (
	HCConsoleWrite  = 0x01
	HCSchedule      = 0x02
	HCSleepTimeout  = 0x03
	HCWake          = 0x04
	HCKthreadCreate = 0x05
	HCGetPID        = 0x06
	HCClock         = 0x07
	HCExit          = 0x08
	HCCPUID         = 0x09
	HCIdle          = 0x0a
	HCBootDone      = 0x0b
	HCYield         = 0x0c
	HCJumpLabel     = 0x0d
	HCPanic         = 0x0e
	HCSyscallReturn = 0x0f
)

// Hypercall numbers added for stop_machine and the stack checks in C
// (hypercall.h is the authority; these move to the generated file).
const (
	HCStopperCreate = 0x10
	HCTaskInfo      = 0x11
	HCTaskHold      = 0x12
)

// Flags of struct task_info (HC_TASK_INFO), as in <linux/sched.h>.
const (
	TaskInfoRunning = 0x1 // running on another CPU: no reliable stack
	TaskInfoUser    = 0x2 // a user process in user space: no kernel frames
	TaskInfoNew     = 0x4 // never ran: nothing on its stack yet
	TaskInfoDead    = 0x8
	TaskInfoCurrent = 0x10 // the calling task (live registers)
	TaskInfoSize    = 48
)

const errnoEBUSY = 16

const (
	errnoESRCH  = 3
	errnoEFAULT = 14
	errnoEINVAL = 22
)

// hypercall serves the vmcall t just executed on v.
func (m *Machine) hypercall(v *VCPU, t *Task) {
	c := v.CPU
	r := &c.Regs
	nr := r[cpu.RAX]
	a0, a1, a2 := r[cpu.RDI], r[cpu.RSI], r[cpu.RDX]
	set := func(x uint64) { r[cpu.RAX] = x }
	switch nr {
	case HCConsoleWrite:
		if a1 > 1<<20 {
			m.stop(fmt.Errorf("HC_CONSOLE_WRITE of %d bytes from %s", a1, t))
			return
		}
		buf := make([]byte, a1)
		if err := m.Mem.Peek(a0, buf); err != nil {
			m.stop(fmt.Errorf("HC_CONSOLE_WRITE from %s: %v", t, err))
			return
		}
		m.consoleWrite(m.clock(v), buf)
		set(a1)
	case HCSchedule:
		set(0)
		if t.wakePending {
			t.wakePending = false
			return
		}
		m.sleep(v, t, nr, 0)
	case HCSleepTimeout:
		if t.wakePending {
			t.wakePending = false
			set(a0)
			return
		}
		set(0)
		if a0 == 0 {
			return
		}
		m.sleep(v, t, nr, m.clock(v)+a0)
	case HCWake:
		set(uint64(m.wake(v, int(int64(a0)))))
	case HCKthreadCreate:
		name, _ := m.ReadCString(a2, 16)
		nt, err := m.NewKthread(name, a0, a1)
		if err != nil {
			m.stop(fmt.Errorf("HC_KTHREAD_CREATE: %v", err))
			return
		}
		set(uint64(nt.PID))
	case HCGetPID:
		set(uint64(t.PID))
	case HCClock:
		set(m.clock(v))
	case HCExit:
		m.exit(t, int64(a0))
	case HCCPUID:
		set(uint64(v.ID))
	case HCIdle:
		set(0)
		if t != v.idle {
			m.yield(v)
			return
		}
		// Park the idle task until the CPU runs out of work again.
		v.idled = true
		m.deschedule(v)
		t.State = Sleeping
		t.inHypercall = HCIdle
	case HCBootDone:
		set(0)
		m.bootDoneHC()
	case HCYield:
		set(0)
		if a0 != 0 {
			// cond_resched(): a preemption point.
			m.preemptionPoint(v)
			return
		}
		m.yield(v)
	case HCStopperCreate:
		set(uint64(m.stopperCreate(a0, a1, a2, r[cpu.R10])))
	case HCTaskInfo:
		set(uint64(m.taskInfo(t, int(int64(a0)), a1)))
	case HCTaskHold:
		set(uint64(m.taskHold(t, int(int64(a0)), a1 != 0)))
	case HCJumpLabel:
		n, err := m.JumpLabelUpdate(a0)
		if err != nil {
			m.stop(err)
			return
		}
		set(uint64(n))
	case HCPanic:
		msg, _ := m.ReadCString(a0, 256)
		m.stop(fmt.Errorf("kernel panic on CPU %d in %s: %s", v.ID, t, msg))
	case HCSyscallReturn:
		if t.user == nil {
			m.stop(fmt.Errorf("HC_SYSCALL_RETURN from %s, which is not a user process", t))
			return
		}
		t.user.ret = int64(a0)
		t.inUser = true
		c.SetShadow(nil)
		m.preemptionPoint(v)
	default:
		if fn := m.hypercalls[nr]; fn != nil {
			ret, err := fn(m, t, c)
			if err != nil {
				m.stop(err)
				return
			}
			if t.cpu == v {
				set(ret)
			}
			return
		}
		m.stop(fmt.Errorf("unknown hypercall %#x at %s (%#x) in %s", nr, m.Syms.Format(c.RIP-3), c.RIP-3, t))
	}
}

// sleep blocks v's current task t until woken or until deadline (0: none).
func (m *Machine) sleep(v *VCPU, t *Task, nr uint64, deadline uint64) {
	m.deschedule(v)
	t.State = Sleeping
	t.deadline = deadline
	t.inHypercall = nr
}

// Sleep puts the task running on c to sleep until Wake; for hypercall
// handlers that block.
func (m *Machine) Sleep(t *Task) {
	if t.cpu != nil {
		m.sleep(t.cpu, t, 0, 0)
	}
}

// wake implements HC_WAKE.
func (m *Machine) wake(v *VCPU, pid int) int64 {
	t := m.byPID[pid]
	if t == nil || t.State == Dead {
		return -errnoESRCH
	}
	if t.State == Sleeping && t.Kind != KindIdle {
		if t.deadline != 0 {
			now := m.now
			if v != nil {
				now = m.clock(v)
			}
			left := uint64(1)
			if t.deadline > now {
				left = t.deadline - now
			}
			t.ctx.Regs[cpu.RAX] = left
		}
		m.makeRunnable(t)
		return 1
	}
	t.wakePending = true
	return 0
}

// Wake wakes the task with the given pid as HC_WAKE does.
func (m *Machine) Wake(pid int) int64 { return m.wake(nil, pid) }

func (m *Machine) yield(v *VCPU) {
	if v.stopperWaiting() {
		m.preempt(v)
		return
	}
	if !m.othersWaiting() {
		return
	}
	t := m.deschedule(v)
	t.State = Runnable
	if t != v.idle {
		m.runq = append(m.runq, t)
	}
}

// bootDoneHC starts the secondary CPUs and runs the boot-done hooks.
func (m *Machine) bootDoneHC() {
	if m.bootDone {
		return
	}
	m.bootDone = true
	for _, v := range m.cpus[1:] {
		t, err := m.newTask(fmt.Sprintf("swapper/%d", v.ID), KindIdle, 0)
		if err != nil {
			m.stop(err)
			return
		}
		t.ctx.RIP = m.K.SecondaryStartup
		t.ctx.Regs[cpu.RSP] = t.StackHi
		v.idle = t
		v.online = true
	}
	hooks := m.onBootDone
	m.onBootDone = nil
	for _, fn := range hooks {
		fn()
	}
}

// ReadCString reads a NUL-terminated string of at most max bytes.
func (m *Machine) ReadCString(addr uint64, max int) (string, error) {
	var out []byte
	for i := 0; i < max; i++ {
		var b [1]byte
		if err := m.Mem.Peek(addr+uint64(i), b[:]); err != nil {
			return string(out), err
		}
		if b[0] == 0 {
			break
		}
		out = append(out, b[0])
	}
	return string(out), nil
}

// stopperCreate implements HC_STOPPER_CREATE(fn, arg, name, cpu): cpu's
// stopper thread, bound to it and picked before any other task there.
// It starts runnable (it runs fn(arg) from ret_from_fork at the CPU's next
// preemption point); HC_WAKE wakes it later.
func (m *Machine) stopperCreate(fn, arg, name, cpuNr uint64) int64 {
	if cpuNr >= uint64(len(m.cpus)) || !m.cpus[cpuNr].online {
		return -errnoEINVAL
	}
	v := m.cpus[cpuNr]
	if v.stopper != nil && v.stopper.State != Dead {
		return -errnoEBUSY
	}
	comm, _ := m.ReadCString(name, 16)
	t, err := m.newTask(comm, KindKernel, 0)
	if err != nil {
		m.stop(fmt.Errorf("HC_STOPPER_CREATE: %v", err))
		return -errnoEINVAL
	}
	t.ctx.RIP = m.K.RetFromFork
	t.ctx.Regs[cpu.RSP] = t.StackHi
	t.ctx.Regs[cpu.RDI] = arg
	t.ctx.Regs[cpu.RSI] = fn
	t.bound = v
	v.stopper = t
	return int64(t.PID)
}

// taskInfo implements HC_TASK_INFO(pid, struct task_info *): the saved
// (for the caller: live) %rip, %rsp, %rbp of a task, its kernel stack's
// bounds and TaskInfo* flags, for the kernel's own stack unwinder.
func (m *Machine) taskInfo(self *Task, pid int, out uint64) int64 {
	t := m.byPID[pid]
	if t == nil {
		return -errnoESRCH
	}
	var flags uint64
	switch {
	case t.State == Dead:
		flags |= TaskInfoDead
	case t.InUser():
		flags |= TaskInfoUser
	case !t.started:
		flags |= TaskInfoNew
	}
	if t == self {
		flags |= TaskInfoCurrent
	} else if t.cpu != nil {
		flags |= TaskInfoRunning
	}
	ctx := t.Context()
	var b [TaskInfoSize]byte
	le64(b[0:], ctx.RIP)
	le64(b[8:], ctx.Regs[cpu.RSP])
	le64(b[16:], ctx.Regs[cpu.RBP])
	le64(b[24:], t.StackLo)
	le64(b[32:], t.StackHi)
	le64(b[40:], flags)
	if err := m.Mem.Poke(out, b[:]); err != nil {
		return -errnoEFAULT
	}
	return 0
}

// taskHold implements HC_TASK_HOLD(pid, hold): a held task is not
// scheduled (as under task_rq_lock()) until released. Holding a task that
// runs on a CPU fails with -EBUSY.
func (m *Machine) taskHold(self *Task, pid int, hold bool) int64 {
	t := m.byPID[pid]
	if t == nil {
		return -errnoESRCH
	}
	if hold && t.cpu != nil && t != self {
		return -errnoEBUSY
	}
	t.held = hold && t != self
	return 0
}
