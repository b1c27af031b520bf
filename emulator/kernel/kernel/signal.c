// SPDX-License-Identifier: GPL-2.0
/*
 * Signals, as far as the target has them: the fake signal that the
 * livepatch core sends to move a sleeping task through the user-space
 * boundary (Linux's TIF_NOTIFY_SIGNAL), and the restart of the system
 * call it interrupted.
 *
 * A signal sets TIF_NOTIFY_SIGNAL in the task's thread_flags and wakes
 * it if it sleeps in TASK_INTERRUPTIBLE.  Every interruptible sleep on
 * a system call path (nanosleep, wait_event_interruptible(),
 * mutex_lock_interruptible()) sees signal_pending(), undoes what it did
 * (leaves its wait queue, drops its locks) and returns -ERESTARTSYS, or
 * -ERESTART_RESTARTBLOCK with current->restart_block set to resume where
 * it stopped.  syscall_exit_to_user_mode(), on the way out of every
 * system call, clears the flag and turns those codes into a restart: the
 * machine issues the call again (or sys_restart_syscall()) instead of
 * returning, so user space sees the result of an uninterrupted call.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <asm/ptrace.h>

/*
 * Send t a fake signal (klp_send_signals() uses it, as Linux's does):
 * t leaves any interruptible sleep and passes through user space.  The
 * machine does the same from Go (Machine.SignalFake).
 */
void set_notify_signal(struct task_struct *t)
{
	if (!test_and_set_ti_flag(&t->thread_flags, TIF_NOTIFY_SIGNAL))
		wake_up_state(t, TASK_INTERRUPTIBLE);
}
EXPORT_SYMBOL_GPL(set_notify_signal);

/* What a restart finds when nothing was set up: -EINTR, as in Linux. */
static long do_no_restart_syscall(struct restart_block *restart)
{
	return -EINTR;
}

/* __NR_restart_syscall: resume the call that set current->restart_block. */
long sys_restart_syscall(void)
{
	struct restart_block *restart = &current->restart_block;
	long (*fn)(struct restart_block *) = restart->fn;

	long ret;

	restart->fn = do_no_restart_syscall;
	if (!fn)
		fn = do_no_restart_syscall;
	ret = fn(restart);
	prevent_tail_call_optimization();	/* stays on the sleeper's stack */
	return ret;
}

/*
 * Called by entry_SYSCALL_64 after do_syscall() with the call's saved
 * registers (regs->ax is its result): handle a pending signal.  There
 * are no signal handlers, so a fake signal only restarts the call.
 */
asmlinkage __visible void syscall_exit_to_user_mode(struct pt_regs *regs)
{
	struct task_struct *t = current;

	if (likely(!signal_pending(t)))
		return;
	clear_tsk_thread_flag(t, TIF_NOTIFY_SIGNAL);
	switch ((long)regs->ax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		regs->flags |= PT_RESTART;	/* the same call again */
		break;
	case -ERESTART_RESTARTBLOCK:
		regs->orig_ax = __NR_restart_syscall;
		regs->flags |= PT_RESTART;
		break;
	}
}
