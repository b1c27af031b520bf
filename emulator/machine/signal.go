package machine

import (
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
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
	flags, err := m.Mem.Read64(t.Struct + abi.Offsetof_task_struct_thread_flags)
	if err != nil {
		return false, fmt.Errorf("machine: signal to %s: %w", t, err)
	}
	if err := m.Mem.Write64(t.Struct+abi.Offsetof_task_struct_thread_flags, flags|1<<abi.TIF_NOTIFY_SIGNAL); err != nil {
		return false, fmt.Errorf("machine: signal to %s: %w", t, err)
	}
	if flags&(1<<abi.TIF_NOTIFY_SIGNAL) != 0 {
		return false, nil
	}
	return m.WakeState(t, abi.TASK_INTERRUPTIBLE)
}

// WakeState is the kernel's wake_up_state(): it wakes t only if t sleeps,
// or is about to sleep, in one of the TASK_* states of the mask (read
// from task_struct.__state), and reports whether it woke it.
func (m *Machine) WakeState(t *Task, mask uint32) (bool, error) {
	state, err := m.Mem.Read32(t.Struct + abi.Offsetof_task_struct___state)
	if err != nil {
		return false, fmt.Errorf("machine: wake %s: %w", t, err)
	}
	if state&mask == 0 {
		return false, nil
	}
	return m.wake(nil, t.PID) == 1, nil
}

// ThreadFlags returns t's thread flags (TIF_* bits of task_struct).
func (m *Machine) ThreadFlags(t *Task) uint64 {
	f, _ := m.Mem.Read64(t.Struct + abi.Offsetof_task_struct_thread_flags)
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
	var b [abi.Sizeof_pt_regs]byte
	if err := m.Mem.Peek(regsAddr, b[:]); err != nil {
		return fmt.Errorf("HC_SYSCALL_RETURN from %s: struct pt_regs at %#x: %w", t, regsAddr, err)
	}
	r := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	u := t.user
	if r(abi.Offsetof_pt_regs_flags)&abi.PT_RESTART != 0 {
		u.last = call{nr: r(abi.Offsetof_pt_regs_orig_ax), args: [3]uint64{r(abi.Offsetof_pt_regs_di), r(abi.Offsetof_pt_regs_si), r(abi.Offsetof_pt_regs_dx)}}
		u.again = true
		t.Restarts++
	} else {
		u.ret = int64(r(abi.Offsetof_pt_regs_ax))
	}
	t.inUser = true
	return nil
}
