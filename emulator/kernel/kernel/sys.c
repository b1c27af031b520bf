// SPDX-License-Identifier: GPL-2.0
/*
 * System call entry and the small system calls.  The machine calls
 * do_syscall() through entry_SYSCALL_64 on the calling task's kernel
 * stack; the result goes back to the user script.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/syscalls.h>
#include <linux/uaccess.h>
#include <linux/jump_label.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/ktime.h>
#include <linux/percpu.h>
#include <linux/seq_file.h>

DEFINE_PER_CPU(unsigned long, syscall_count);

/* When enabled, every system call is logged (see sys_verbose()). */
DEFINE_STATIC_KEY_FALSE(verbose_key);

#define __SYSCALL(nr, fn)	[nr] = (sys_call_ptr_t)(fn)

const sys_call_ptr_t sys_call_table[NR_syscalls] = {
	__SYSCALL(__NR_version,		sys_version),
	__SYSCALL(__NR_cmdline,		sys_cmdline),
	__SYSCALL(__NR_meminfo,		sys_meminfo),
	__SYSCALL(__NR_vmstat,		sys_vmstat),
	__SYSCALL(__NR_stat,		sys_stat),
	__SYSCALL(__NR_cpuinfo,		sys_cpuinfo),
	__SYSCALL(__NR_proc_read,	sys_proc_read),
	__SYSCALL(__NR_read_user,	sys_read_user),
	__SYSCALL(__NR_incr_user,	sys_incr_user),
	__SYSCALL(__NR_verbose,		sys_verbose),
	__SYSCALL(__NR_getpid,		sys_getpid),
	__SYSCALL(__NR_nanosleep,	sys_nanosleep),
	__SYSCALL(__NR_count,		sys_count),
	__SYSCALL(__NR_wait_event,	sys_wait_event),
	__SYSCALL(__NR_wake_all,	sys_wake_all),
	__SYSCALL(__NR_queue_work,	sys_queue_work),
	__SYSCALL(__NR_restart_syscall,	sys_restart_syscall),
	__SYSCALL(__NR_kwork,		sys_kwork),
	__SYSCALL(__NR_spin_work,	sys_spin_work),
	__SYSCALL(__NR_mutex_sleep,	sys_mutex_sleep),
};

/* Failed calls per system call number; the last slot counts bad numbers. */
static unsigned long syscall_errors[NR_syscalls + 1];
static long syscall_last_error[NR_syscalls + 1];
static DEFINE_SPINLOCK(syscall_errors_lock);

/* gcc inlines the "ret >= 0" test into callers and outlines the rest (.part). */
static void note_syscall_result(unsigned long nr, long ret)
{
	unsigned long slot;

	if (likely(ret >= 0) || ret <= -ERESTARTSYS)	/* restarted, not failed */
		return;
	slot = nr < NR_syscalls ? nr : NR_syscalls;
	spin_lock(&syscall_errors_lock);
	syscall_errors[slot]++;
	syscall_last_error[slot] = ret;
	spin_unlock(&syscall_errors_lock);
}

void show_syscall_errors(struct seq_file *m)
{
	unsigned long nr;

	spin_lock(&syscall_errors_lock);
	for (nr = 0; nr <= NR_syscalls; nr++)
		if (syscall_errors[nr])
			seq_printf(m, "errors %s%lu %lu last %ld\n",
				   nr == NR_syscalls ? ">=" : "", nr,
				   syscall_errors[nr], syscall_last_error[nr]);
	spin_unlock(&syscall_errors_lock);
}

/* An error path gcc moves out of line: do_syscall.cold calls it. */
static __cold noinline long bad_syscall(unsigned long nr)
{
	pr_warn("syscall %lu: no such system call (pid %d)\n", nr, current->pid);
	return -ENOSYS;
}

asmlinkage __visible long do_syscall(unsigned long nr, unsigned long a0,
				     unsigned long a1, unsigned long a2)
{
	long ret;

	this_cpu_inc(syscall_count);
	if (unlikely(nr >= NR_syscalls || !sys_call_table[nr])) {
		ret = bad_syscall(nr);
		note_syscall_result(nr, ret);
		return ret;
	}

	ret = sys_call_table[nr](a0, a1, a2);
	note_syscall_result(nr, ret);

	if (static_branch_unlikely(&verbose_key))
		pr_info("syscall %lu(%lx, %lx, %lx) = %ld [pid %d cpu %d]\n",
			nr, a0, a1, a2, ret, current->pid, smp_processor_id());
	return ret;
}

/*
 * Copy a message from user space and log it.  Returns the number of
 * bytes read, -EINVAL if len is 0 or too large, -EFAULT if the buffer
 * is not readable (a fault inside copy_from_user, fixed up through
 * __ex_table).
 */
#define READ_USER_MAX	128

long sys_read_user(const char __user *buf, unsigned long len)
{
	char kbuf[READ_USER_MAX + 1];

	if (len == 0 || len > READ_USER_MAX) {
		pr_warn_once("read_user: length %lu out of range (1..%d)\n",
			     len, READ_USER_MAX);
		return -EINVAL;
	}
	if (copy_from_user(kbuf, buf, len))
		return -EFAULT;
	kbuf[len] = '\0';
	pr_info("read_user: pid %d: \"%s\"\n", current->pid, kbuf);
	return len;
}

/* *p += 1 in user memory; returns the new value or -EFAULT. */
long sys_incr_user(u32 __user *p)
{
	u32 val;

	if (get_user(val, p))
		return -EFAULT;
	val++;
	if (put_user(val, p))
		return -EFAULT;
	return val;
}

/* Enable (on != 0) or disable syscall logging; returns the old state. */
long sys_verbose(unsigned long on)
{
	bool was = static_key_enabled(&verbose_key);

	if (on)
		static_branch_enable(&verbose_key);
	else
		static_branch_disable(&verbose_key);
	return was;
}

long sys_getpid(void)
{
	return current->pid;
}

/*
 * Sleep ns of virtual time inside the kernel; returns 0.  A signal ends
 * the sleep with -ERESTART_RESTARTBLOCK: the restarted call sleeps until
 * the same deadline (nanosleep_restart()), as Linux's hrtimer_nanosleep()
 * does, so the caller sleeps as long as without the signal.
 */
long sys_nanosleep(unsigned long ns)
{
	long ret = nanosleep_until(ktime_get_ns() + ns);

	prevent_tail_call_optimization();
	if (unlikely(ret))
		return ret;	/* interrupted: the way out restarts the call */
	return 0;
}

/* A function-local static: a patch must keep counting from its value. */
static noinline unsigned long count_calls(void)
{
	static unsigned long calls;

	return ++calls;
}

long sys_count(void)
{
	return count_calls();
}

/* A wait queue user processes can sleep on and wake. */
static DECLARE_WAIT_QUEUE_HEAD(demo_wq);
static atomic_t demo_generation = ATOMIC_INIT(0);
static long wait_event_restart(struct restart_block *restart);

static long wait_generation(int gen)
{
	struct restart_block *restart = &current->restart_block;

	if (!wait_event_interruptible(demo_wq, atomic_read(&demo_generation) != gen))
		return 0;
	/* A signal: the restarted call waits for the same generation. */
	restart->fn = wait_event_restart;
	restart->arg = gen;
	return -ERESTART_RESTARTBLOCK;
}

static long wait_event_restart(struct restart_block *restart)
{
	return wait_generation(restart->arg);
}

/*
 * Sleep until the next sys_wake_all(); returns 0.  A signal ends the
 * wait (the entry leaves the queue); the call restarts, still waiting
 * for the wake-up it was waiting for.
 */
long sys_wait_event(void)
{
	long ret = wait_generation(atomic_read(&demo_generation));

	prevent_tail_call_optimization();
	return ret;
}

/* Wake every task in sys_wait_event(); returns how many were woken. */
long sys_wake_all(void)
{
	atomic_inc(&demo_generation);
	return wake_up_all(&demo_wq);
}

/* kernel/workqueue.c */
extern struct work_struct stats_work;

/* Queue the stats work item for the worker; 1 if queued, 0 if pending. */
long sys_queue_work(void)
{
	return schedule_work(&stats_work);
}
