package machine

import (
	"encoding/binary"
	"fmt"
)

// ABI constants of the C headers (the authority):
// include/linux/sched.h (task_struct, TASK_*), asm/thread_info.h (TIF_*)
// and asm/ptrace.h (struct pt_regs). Keep this block in step with them.
const (
	// TaskThreadFlagsOffset is offsetof(struct task_struct, thread_flags).
	TaskThreadFlagsOffset = 56
	// TaskStateOffset is offsetof(struct task_struct, __state).
	TaskStateOffset = 64

	// TaskRunning is TASK_RUNNING.
	TaskRunning = 0x0
	// TaskInterruptible is TASK_INTERRUPTIBLE.
	TaskInterruptible = 0x1
	// TaskUninterruptible is TASK_UNINTERRUPTIBLE.
	TaskUninterruptible = 0x2

	// TIFSigpending is TIF_SIGPENDING (never set: no real signals).
	TIFSigpending = 2
	// TIFNotifySignal is TIF_NOTIFY_SIGNAL, the fake signal.
	TIFNotifySignal = 17

	// sizeof(struct pt_regs) and its fields' offsets (PT_* in asm/ptrace.h).
	ptRegsSize   = 48
	ptRegsOrigAX = 0
	ptRegsDI     = 8
	ptRegsSI     = 16
	ptRegsDX     = 24
	ptRegsAX     = 32
	ptRegsFlags  = 40
	// ptRestart (PT_RESTART) in pt_regs.flags asks for the call again.
	ptRestart = 1
)

// SignalFake sends t the fake signal of Linux's klp_send_signals()
// (set_notify_signal()): it sets TIF_NOTIFY_SIGNAL in t's thread flags
// and wakes t if it sleeps, or is about to sleep, in TASK_INTERRUPTIBLE.
// The kernel's interruptible sleeps then return, undoing what they did,
// and the way out of the system call restarts it (kernel/signal.c), so
// the process passes through user space and its call completes as if
// nothing had happened. A task in an uninterruptible sleep keeps the
// flag until its call returns. It reports whether t was woken; a user
// process already in user space, a kernel thread or a dead task gets
// nothing.
func (m *Machine) SignalFake(t *Task) (woken bool, err error) {
	if t.user == nil || t.State == Dead || t.inUser {
		return false, nil
	}
	flags, err := m.Mem.Read64(t.Struct + TaskThreadFlagsOffset)
	if err != nil {
		return false, fmt.Errorf("machine: signal to %s: %w", t, err)
	}
	if err := m.Mem.Write64(t.Struct+TaskThreadFlagsOffset, flags|1<<TIFNotifySignal); err != nil {
		return false, fmt.Errorf("machine: signal to %s: %w", t, err)
	}
	if flags&(1<<TIFNotifySignal) != 0 {
		return false, nil
	}
	state, err := m.Mem.Read32(t.Struct + TaskStateOffset)
	if err != nil {
		return false, fmt.Errorf("machine: signal to %s: %w", t, err)
	}
	if state&TaskInterruptible == 0 {
		return false, nil
	}
	return m.wake(nil, t.PID) == 1, nil
}

// ThreadFlags returns t's thread flags (TIF_* bits of task_struct).
func (m *Machine) ThreadFlags(t *Task) uint64 {
	f, _ := m.Mem.Read64(t.Struct + TaskThreadFlagsOffset)
	return f
}

// syscallReturn serves HC_SYSCALL_RETURN(regs): the user registers the
// kernel hands back. With ptRestart the script's call is issued again
// (regs->orig_ax may now be __NR_restart_syscall); otherwise regs->ax
// is its result.
func (m *Machine) syscallReturn(t *Task, regsAddr uint64) error {
	if t.user == nil {
		return fmt.Errorf("HC_SYSCALL_RETURN from %s, which is not a user process", t)
	}
	var b [ptRegsSize]byte
	if err := m.Mem.Peek(regsAddr, b[:]); err != nil {
		return fmt.Errorf("HC_SYSCALL_RETURN from %s: struct pt_regs at %#x: %w", t, regsAddr, err)
	}
	r := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	u := t.user
	if r(ptRegsFlags)&ptRestart != 0 {
		u.last = call{nr: r(ptRegsOrigAX), args: [3]uint64{r(ptRegsDI), r(ptRegsSI), r(ptRegsDX)}}
		u.again = true
		t.Restarts++
	} else {
		u.ret = int64(r(ptRegsAX))
	}
	t.inUser = true
	return nil
}
