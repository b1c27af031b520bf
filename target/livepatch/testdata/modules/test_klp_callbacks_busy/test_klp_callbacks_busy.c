// SPDX-License-Identifier: GPL-2.0
/*
 * A busy target module: a kernel thread sleeps 1 s of virtual time in
 * busymod_work_func(), which the callback demo patches, then exits.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static noinline void busymod_work_func(void)
{
	pr_info("%s enter\n", __func__);
	msleep(1000);
	pr_info("%s exit\n", __func__);
}

static int busymod_thread(void *unused)
{
	busymod_work_func();
	return 0;
}

static int test_klp_callbacks_busy_init(void)
{
	pr_info("%s\n", __func__);
	kthread_run(busymod_thread, NULL, "busymod");
	return 0;
}

static void test_klp_callbacks_busy_exit(void)
{
	pr_info("%s\n", __func__);
}

module_init(test_klp_callbacks_busy_init);
module_exit(test_klp_callbacks_busy_exit);
MODULE_LICENSE("GPL");
