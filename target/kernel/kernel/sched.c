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

void msleep(unsigned int ms)
{
	long timeout = (long)ms * NSEC_PER_MSEC;

	while (timeout)
		timeout = schedule_timeout(timeout);
}
EXPORT_SYMBOL(msleep);

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

void prepare_to_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)
{
	spin_lock(&wq_head->lock);
	if (list_empty(&wq_entry->entry))
		list_add_tail(&wq_entry->entry, &wq_head->head);
	spin_unlock(&wq_head->lock);
}
EXPORT_SYMBOL(prepare_to_wait);

void finish_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)
{
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
