// SPDX-License-Identifier: GPL-2.0
/*
 * Patches do_long_wait() (LP_LONG_WAIT), in which the long_sleeper kernel
 * thread sleeps for 10 s of virtual time at a stretch, and/or
 * sys_nanosleep() (LP_NANOSLEEP), where user sleepers are.  The test
 * build defines LP_MODEL and which functions.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/sched.h>
#include <linux/livepatch.h>

#ifndef LP_MODEL
#define LP_MODEL KLP_MODEL_HYBRID
#endif

static noinline __maybe_unused void livepatch_do_long_wait(void)
{
	msleep(10000);
	pr_info("%s: patched do_long_wait returns\n", KBUILD_MODNAME);
}

static noinline __maybe_unused long livepatch_sys_nanosleep(unsigned long ns)
{
	long left = ns;

	while (left > 0)
		left = schedule_timeout(left);
	return 0;
}

static struct klp_func funcs[] = {
#ifdef LP_LONG_WAIT
	{ .old_name = "do_long_wait", .new_func = livepatch_do_long_wait, },
#endif
#ifdef LP_NANOSLEEP
	{ .old_name = "sys_nanosleep", .new_func = livepatch_sys_nanosleep, },
#endif
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, }, { }
};

static struct klp_patch patch = {
	.objs = objs,
	.model = LP_MODEL,
};

static int lp_sleep_init(void)
{
	return klp_enable_patch(&patch);
}

static void lp_sleep_exit(void)
{
}

module_init(lp_sleep_init);
module_exit(lp_sleep_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
