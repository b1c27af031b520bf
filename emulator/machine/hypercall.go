package machine

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
)

const (
	errnoESRCH  = abi.ESRCH
	errnoEBUSY  = abi.EBUSY
	errnoEFAULT = abi.EFAULT
	errnoEINVAL = abi.EINVAL
)

// hypercall serves the vmcall t just executed on v.
func (m *Machine) hypercall(v *VCPU, t *Task) {
	c := v.CPU
	r := &c.Regs
	nr := r[cpu.RAX]
	a0, a1, a2 := r[cpu.RDI], r[cpu.RSI], r[cpu.RDX]
	set := func(x uint64) { r[cpu.RAX] = x }
	switch nr {
	case abi.HC_CONSOLE_WRITE:
		if a1 > 1<<20 {
			m.stop(fmt.Errorf("HC_CONSOLE_WRITE of %d bytes from %s", a1, t))
			return
		}
		buf := make([]byte, a1)
		if err := m.Mem.Peek(a0, buf); err != nil {
			m.stop(fmt.Errorf("HC_CONSOLE_WRITE from %s: %w", t, err))
			return
		}
		m.consoleWrite(m.clock(v), buf)
		set(a1)
	case abi.HC_SCHEDULE:
		set(0)
		if t.wakePending {
			t.wakePending = false
			return
		}
		m.sleep(v, t, nr, 0)
	case abi.HC_SLEEP_TIMEOUT:
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
	case abi.HC_WAKE:
		set(uint64(m.wake(v, int(int64(a0)))))
	case abi.HC_KTHREAD_CREATE:
		name, _ := m.ReadCString(a2, abi.TASK_COMM_LEN)
		nt, err := m.NewKthread(name, a0, a1)
		if err != nil {
			m.stop(fmt.Errorf("HC_KTHREAD_CREATE: %w", err))
			return
		}
		set(uint64(nt.PID))
	case abi.HC_GETPID:
		set(uint64(t.PID))
	case abi.HC_CLOCK:
		set(m.clock(v))
	case abi.HC_EXIT:
		m.exit(t, int64(a0))
	case abi.HC_CPU_ID:
		set(uint64(v.ID))
	case abi.HC_IDLE:
		set(0)
		if t != v.idle {
			m.yield(v)
			return
		}
		// Park the idle task until the CPU runs out of work again.
		v.idled = true
		m.deschedule(v)
		t.State = Sleeping
		t.inHypercall = abi.HC_IDLE
	case abi.HC_BOOT_DONE:
		set(0)
		m.bootDoneHC()
	case abi.HC_YIELD:
		set(0)
		if a0 != 0 {
			// cond_resched(): a preemption point.
			m.preemptionPoint(v)
			return
		}
		m.yield(v)
	case abi.HC_STOPPER_CREATE:
		set(uint64(m.stopperCreate(a0, a1, a2, r[cpu.R10])))
	case abi.HC_TASK_INFO:
		set(uint64(m.taskInfo(t, int(int64(a0)), a1)))
	case abi.HC_TASK_HOLD:
		set(uint64(m.taskHold(t, int(int64(a0)), a1 != 0)))
	case abi.HC_JUMP_LABEL:
		n, err := m.JumpLabelUpdate(a0)
		if err != nil {
			m.stop(err)
			return
		}
		set(uint64(n))
	case abi.HC_PANIC:
		msg, _ := m.ReadCString(a0, 256)
		m.stop(fmt.Errorf("kernel panic on CPU %d in %s: %s", v.ID, t, msg))
	case abi.HC_SYSCALL_RETURN:
		if err := m.syscallReturn(t, a0); err != nil {
			m.stop(err)
			return
		}
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
		m.stop(fmt.Errorf("unknown hypercall %#x at %s (%#x) in %s", nr, m.Syms.Format(c.RIP-cpu.VMCallLen), c.RIP-cpu.VMCallLen, t))
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
		m.stop(fmt.Errorf("HC_STOPPER_CREATE: %w", err))
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
// bounds and TI_* flags, for the kernel's own stack unwinder.
func (m *Machine) taskInfo(self *Task, pid int, out uint64) int64 {
	t := m.byPID[pid]
	if t == nil {
		return -errnoESRCH
	}
	var flags uint64
	switch {
	case t.State == Dead:
		flags |= abi.TI_DEAD
	case t.InUser():
		flags |= abi.TI_USER
	case !t.started:
		flags |= abi.TI_NEW
	}
	if t == self {
		flags |= abi.TI_CURRENT
	} else if t.cpu != nil {
		flags |= abi.TI_RUNNING
	}
	ctx := t.Context()
	var b [abi.Sizeof_task_info]byte
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
