// SPDX-License-Identifier: GPL-2.0
/*
 * Patches schedule(), which is on the stack of every sleeping task: only
 * the per-function force flag (no stack check) or immediate flag (no
 * transition) lets a stack-checking model patch it.  The test build
 * defines LP_MODEL and LP_FLAGS.
 *
 * With LP_SCHED_INNER the same code replaces __schedule(prev) instead,
 * where every sleeping task's instruction pointer is (right after its
 * sleep hypercall): a stack check must consider a task's own %rip, not
 * only the return addresses above it, or it switches tasks that go on
 * running the old __schedule() when they wake.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/livepatch.h>
#include <asm/hypercall.h>

#ifndef LP_MODEL
#define LP_MODEL KLP_MODEL_HYBRID
#endif
#ifndef LP_FLAGS
#define LP_FLAGS 0
#endif

static unsigned long patched_calls;

#ifdef LP_SCHED_INNER
#define LP_OLD_NAME "__schedule"
#else
#define LP_OLD_NAME "schedule"
#endif

/*
 * What schedule() does, without the per-CPU switch count (its caller
 * counts it when it replaces __schedule()).
 */
static noinline void livepatch_schedule(void)
{
	struct task_struct *prev = current;
	u64 timeout = prev->sleep_timeout;

	patched_calls++;
	if (timeout) {
		prev->sleep_timeout = 0;
		hypercall1(HC_SLEEP_TIMEOUT, timeout);
	} else {
		hypercall0(HC_SCHEDULE);
	}
#ifdef LP_SCHED_INNER
	WRITE_ONCE(prev->__state, TASK_RUNNING);
#endif
}

static struct klp_func funcs[] = {
	{ .old_name = LP_OLD_NAME, .new_func = livepatch_schedule, .flags = LP_FLAGS, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, }, { }
};

static struct klp_patch patch = {
	.objs = objs,
	.model = LP_MODEL,
};

static int lp_sched_init(void)
{
	return klp_enable_patch(&patch);
}

static void lp_sched_exit(void)
{
	pr_info("%s: patched " LP_OLD_NAME "() ran %lu times\n", KBUILD_MODNAME, patched_calls);
}

module_init(lp_sched_init);
module_exit(lp_sched_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
