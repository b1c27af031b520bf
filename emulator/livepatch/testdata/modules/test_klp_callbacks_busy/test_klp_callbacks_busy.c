// SPDX-License-Identifier: GPL-2.0
/*
 * A busy target module: its init starts a kernel thread that runs
 * busymod_work_func(), which the callback demo patches.  Built as is, the
 * function returns at once and init waits for it, so that its lines come
 * before init returns.  With LP_BLOCK defined, the function stays (asleep
 * in 20 ms steps) until the module's exit function tells it to stop and
 * waits for it: a transition that patches it cannot finish meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/kthread.h>
#include <linux/delay.h>

#ifdef LP_BLOCK
static volatile bool keep_busy = true;
#else
static volatile bool keep_busy;
#endif
static volatile bool started, finished;

static noinline void busymod_work_func(void)
{
	pr_info("%s enter\n", __func__);
	started = true;
	while (keep_busy)
		msleep(20);
	pr_info("%s exit\n", __func__);
}

static int busymod_thread(void *unused)
{
	busymod_work_func();
	finished = true;
	return 0;
}

static void wait_for(volatile bool *flag)
{
	while (!*flag)
		msleep(1);
}

static int test_klp_callbacks_busy_init(void)
{
	pr_info("%s\n", __func__);
	kthread_run(busymod_thread, NULL, "busymod");
	wait_for(&started);
	if (!keep_busy)
		wait_for(&finished);
	return 0;
}

static void test_klp_callbacks_busy_exit(void)
{
	keep_busy = false;
	wait_for(&finished);
	pr_info("%s\n", __func__);
}

module_init(test_klp_callbacks_busy_init);
module_exit(test_klp_callbacks_busy_exit);
MODULE_LICENSE("GPL");
