// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's C side.  The machine owns the run queues: a task goes to
 * sleep by issuing a hypercall from schedule(), so every sleeping task has
 * schedule() and its callers on its stack, as in Linux.
 *
 * Wake-ups are never lost: HC_WAKE on a task that is not asleep makes the
 * task's next sleep return at once.  Every sleeper therefore re-checks its
 * condition in a loop.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/percpu.h>
#include <linux/errno.h>
#include <asm/hypercall.h>

/* Returns from __schedule() per CPU ("ctxt" in sys_stat). */
DEFINE_PER_CPU(unsigned long, nr_switches);

u64 ktime_get_ns(void)
{
	return hypercall0(HC_CLOCK);
}
EXPORT_SYMBOL(ktime_get_ns);

/* The one place a task sleeps. */
static noinline void __schedule(struct task_struct *prev)
{
	u64 timeout = prev->sleep_timeout;

	if (timeout) {
		prev->sleep_timeout = 0;
		hypercall1(HC_SLEEP_TIMEOUT, timeout);
	} else {
		hypercall0(HC_SCHEDULE);
	}
	/* Woken (or the wake was already pending): running again. */
	WRITE_ONCE(prev->__state, TASK_RUNNING);
}

/*
 * Sleep until woken (or, when called from schedule_timeout(), until the
 * timeout expires).
 */
asmlinkage __visible void __sched schedule(void)
{
	__schedule(current);
	this_cpu_inc(nr_switches);	/* counted where the task resumes */
}
EXPORT_SYMBOL(schedule);

/*
 * Sleep for at most timeout_ns of virtual time.  Returns the time left:
 * 0 if the whole timeout elapsed, more if the task was woken earlier.
 */
long __sched schedule_timeout(long timeout_ns)
{
	u64 expire, now;

	if (timeout_ns <= 0)
		return 0;
	expire = ktime_get_ns() + timeout_ns;
	current->sleep_timeout = timeout_ns;
	schedule();
	now = ktime_get_ns();
	return now < expire ? (long)(expire - now) : 0;
}
EXPORT_SYMBOL(schedule_timeout);

static long nanosleep_restart(struct restart_block *restart)
{
	return nanosleep_until(restart->expires);
}

/*
 * Sleep in TASK_INTERRUPTIBLE until the virtual time reaches expires:
 * 0, or -ERESTART_RESTARTBLOCK when a signal is pending first, with
 * current->restart_block set to sleep on to the same deadline.
 */
long __sched nanosleep_until(u64 expires)
{
	struct restart_block *restart;
	u64 now;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		now = ktime_get_ns();
		if (now >= expires)
			break;
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			restart = &current->restart_block;
			restart->fn = nanosleep_restart;
			restart->expires = expires;
			return -ERESTART_RESTARTBLOCK;
		}
		schedule_timeout(expires - now);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}
EXPORT_SYMBOL(nanosleep_until);

/* schedule_timeout() in the given sleep state (see TASK_*). */
long __sched schedule_timeout_interruptible(long timeout_ns)
{
	__set_current_state(TASK_INTERRUPTIBLE);
	return schedule_timeout(timeout_ns);
}
EXPORT_SYMBOL(schedule_timeout_interruptible);

long __sched schedule_timeout_uninterruptible(long timeout_ns)
{
	__set_current_state(TASK_UNINTERRUPTIBLE);
	return schedule_timeout(timeout_ns);
}
EXPORT_SYMBOL(schedule_timeout_uninterruptible);

/* Sleep ms milliseconds; signals do not shorten it. */
void msleep(unsigned int ms)
{
	long timeout = (long)ms * NSEC_PER_MSEC;

	while (timeout) {
		__set_current_state(TASK_UNINTERRUPTIBLE);
		timeout = schedule_timeout(timeout);
	}
}
EXPORT_SYMBOL(msleep);

/*
 * Sleep ms milliseconds or until a signal is pending; returns the
 * milliseconds left (rounded up), 0 if the whole time elapsed.
 */
unsigned long msleep_interruptible(unsigned int ms)
{
	long timeout = (long)ms * NSEC_PER_MSEC;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!timeout || signal_pending(current))
			break;
		timeout = schedule_timeout(timeout);
	}
	__set_current_state(TASK_RUNNING);
	return (timeout + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
}
EXPORT_SYMBOL(msleep_interruptible);

void yield(void)
{
	hypercall1(HC_YIELD, 0);
}
EXPORT_SYMBOL(yield);

/* A preemption point: the only place a long kernel loop gives up its CPU. */
void cond_resched(void)
{
	hypercall1(HC_YIELD, 1);
}
EXPORT_SYMBOL(cond_resched);

int wake_up_pid(pid_t pid)
{
	return hypercall1(HC_WAKE, pid);
}
EXPORT_SYMBOL_GPL(wake_up_pid);

/* Returns 1 if the task was asleep, 0 if it was running (wake remembered). */
int wake_up_process(struct task_struct *p)
{
	return wake_up_pid(p->pid) > 0;
}
EXPORT_SYMBOL(wake_up_process);

/*
 * Wake p only if it sleeps (or is about to sleep) in one of the states
 * of the mask; returns what wake_up_process() returns, 0 when p's state
 * is not in the mask.
 */
int wake_up_state(struct task_struct *p, unsigned int state)
{
	if (!(READ_ONCE(p->__state) & state))
		return 0;
	return wake_up_process(p);
}
EXPORT_SYMBOL(wake_up_state);

void __noreturn do_exit(long code)
{
	current->flags |= PF_EXITING;
	hypercall1(HC_EXIT, code);
	for (;;)
		;
}
EXPORT_SYMBOL_GPL(do_exit);

/* Wait queues. */

void init_waitqueue_head(struct wait_queue_head *wq_head)
{
	spin_lock_init(&wq_head->lock);
	INIT_LIST_HEAD(&wq_head->head);
}
EXPORT_SYMBOL(init_waitqueue_head);

/* Queue the entry (once) and set the sleep state. */
void prepare_to_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry,
		     int state)
{
	spin_lock(&wq_head->lock);
	if (list_empty(&wq_entry->entry))
		list_add_tail(&wq_entry->entry, &wq_head->head);
	set_current_state(state);
	spin_unlock(&wq_head->lock);
}
EXPORT_SYMBOL(prepare_to_wait);

/*
 * prepare_to_wait() for the wait_event*() loops: in TASK_INTERRUPTIBLE
 * with a signal pending, the entry leaves the queue instead and the
 * result is -ERESTARTSYS, which the caller returns.
 */
long prepare_to_wait_event(struct wait_queue_head *wq_head,
			   struct wait_queue_entry *wq_entry, int state)
{
	if (state == TASK_INTERRUPTIBLE && signal_pending(current)) {
		finish_wait(wq_head, wq_entry);
		return -ERESTARTSYS;
	}
	prepare_to_wait(wq_head, wq_entry, state);
	return 0;
}
EXPORT_SYMBOL(prepare_to_wait_event);

/* Leave the queue if still on it, and run. */
void finish_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)
{
	__set_current_state(TASK_RUNNING);
	spin_lock(&wq_head->lock);
	if (!list_empty(&wq_entry->entry))
		list_del_init(&wq_entry->entry);
	spin_unlock(&wq_head->lock);
}
EXPORT_SYMBOL(finish_wait);

/*
 * Wake nr waiters (0 = all), in the order they queued.  Woken entries
 * leave the queue; a waiter that loops puts itself back.  Returns how
 * many were woken.
 */
int __wake_up(struct wait_queue_head *wq_head, int nr)
{
	struct wait_queue_entry *curr, *next;
	int woken = 0;

	spin_lock(&wq_head->lock);
	list_for_each_entry_safe(curr, next, &wq_head->head, entry) {
		list_del_init(&curr->entry);
		wake_up_process(curr->task);
		if (++woken == nr)
			break;
	}
	spin_unlock(&wq_head->lock);
	return woken;
}
EXPORT_SYMBOL(__wake_up);

void __init sched_init(void)
{
	struct task_struct *p = current;

	pr_info("sched: boot task %d (%s) on CPU %d\n", p->pid, p->comm,
		smp_processor_id());
}
