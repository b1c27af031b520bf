// SPDX-License-Identifier: GPL-2.0
/*
 * A kernel thread that spends nearly all its life asleep inside
 * do_long_wait(): its stack is
 *
 *	ret_from_fork -> kthread -> long_sleeper_fn -> do_long_wait ->
 *	msleep -> schedule_timeout -> schedule -> __schedule
 *
 * so a patch that changes do_long_wait() (or anything below it) cannot
 * complete a stack-checked transition until the sleep ends, every
 * LONG_WAIT_MS of virtual time.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/kthread.h>
#include <linux/delay.h>

#define LONG_WAIT_MS	10000	/* 10 s of virtual time */

unsigned long long_waits;

static noinline void do_long_wait(void)
{
	msleep(LONG_WAIT_MS);
	long_waits++;
}

static int long_sleeper_fn(void *unused)
{
	for (;;)
		do_long_wait();
	return 0;
}

void __init long_sleeper_init(void)
{
	kthread_run(long_sleeper_fn, NULL, "long_sleeper");
}
