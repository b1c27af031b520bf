// SPDX-License-Identifier: GPL-2.0
/*
 * One worker kthread, "kworker/0", runs queued work items in order and
 * otherwise sleeps in worker_thread() -> wait_event() -> schedule().
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/workqueue.h>
#include <linux/wait.h>
#include <linux/spinlock.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/ktime.h>

static DEFINE_SPINLOCK(work_lock);
static LIST_HEAD(work_list);
static DECLARE_WAIT_QUEUE_HEAD(worker_wait);
static unsigned long works_done;

/* Returns true if queued, false if the item was already pending. */
bool schedule_work(struct work_struct *work)
{
	bool queued = false;

	spin_lock(&work_lock);
	if (!work->pending) {
		work->pending = true;
		list_add_tail(&work->entry, &work_list);
		queued = true;
	}
	spin_unlock(&work_lock);
	if (queued)
		wake_up(&worker_wait);
	return queued;
}
EXPORT_SYMBOL(schedule_work);

static struct work_struct *dequeue_work(void)
{
	struct work_struct *work = NULL;

	spin_lock(&work_lock);
	if (!list_empty(&work_list)) {
		work = list_first_entry(&work_list, struct work_struct, entry);
		list_del_init(&work->entry);
		work->pending = false;
	}
	spin_unlock(&work_lock);
	return work;
}

static noinline void process_one_work(struct work_struct *work)
{
	work->func(work);
	works_done++;
}

static int worker_thread(void *unused)
{
	struct work_struct *work;

	for (;;) {
		wait_event(worker_wait, !list_empty(&work_list));
		while ((work = dequeue_work()))
			process_one_work(work);
	}
	return 0;
}

/* The work item sys_queue_work() queues: log a line of statistics. */
static void stats_work_fn(struct work_struct *work)
{
	struct kmalloc_stats st;

	kmalloc_get_stats(&st);
	pr_info("stats: works %lu, kmalloc %lu allocs %lu frees, now %llu ns\n",
		works_done + 1, st.allocs, st.frees, ktime_get_ns());
}

DECLARE_WORK(stats_work, stats_work_fn);

void __init workqueue_init(void)
{
	kthread_run(worker_thread, NULL, "kworker/0");
}
