// SPDX-License-Identifier: GPL-2.0
/*
 * A per-task patch of the three system calls user tasks sleep in:
 * sys_nanosleep(), sys_wait_event() (on a wait queue) and
 * sys_mutex_sleep() (blocked on a mutex, or asleep holding it).  While
 * tasks sleep in them the transition is blocked until the fake signal
 * moves them through user space.  Each new function logs its calls; the
 * new sys_wait_event() does not wait (it has no access to the demo wait
 * queue) and returns -EAGAIN, the new sys_mutex_sleep() sleeps without
 * the mutex, so a test can tell which version served a call.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/ktime.h>
#include <linux/livepatch.h>

static noinline long livepatch_sys_nanosleep(unsigned long ns)
{
	long ret;

	pr_info("%s: sys_nanosleep pid %d\n", KBUILD_MODNAME, current->pid);
	ret = nanosleep_until(ktime_get_ns() + ns);
	prevent_tail_call_optimization();
	return ret;
}

static noinline long livepatch_sys_wait_event(void)
{
	pr_info("%s: sys_wait_event pid %d\n", KBUILD_MODNAME, current->pid);
	return -EAGAIN;
}

static noinline long livepatch_sys_mutex_sleep(unsigned long idx, unsigned long ns)
{
	long ret;

	pr_info("%s: sys_mutex_sleep pid %d\n", KBUILD_MODNAME, current->pid);
	ret = nanosleep_until(ktime_get_ns() + ns);
	prevent_tail_call_optimization();
	return ret;
}

static struct klp_func funcs[] = {
	{ .old_name = "sys_nanosleep", .new_func = livepatch_sys_nanosleep, },
	{ .old_name = "sys_wait_event", .new_func = livepatch_sys_wait_event, },
	{ .old_name = "sys_mutex_sleep", .new_func = livepatch_sys_mutex_sleep, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, }, { }
};

static struct klp_patch patch = {
	.objs = objs,
	.model = KLP_MODEL_HYBRID,
};

static int lp_signal_init(void)
{
	return klp_enable_patch(&patch);
}

static void lp_signal_exit(void)
{
}

module_init(lp_signal_init);
module_exit(lp_signal_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
