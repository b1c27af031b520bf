// SPDX-License-Identifier: GPL-2.0
/*
 * The sleeping population of a real system, for the realistic cost
 * table: DS_THREADS kernel threads, each asleep DS_SLEEP_MS at a time
 * (plus up to DS_SLEEP_MS more, depending on the thread) at the bottom
 * of a call chain, so that the stack checks walk stacks as deep as
 * Linux's usual ones: thread i sleeps under 3 + i % 11 frames of
 * ds_frame(), below kthread() and above msleep(), schedule_timeout(),
 * schedule() and __schedule(): 10 to 20 frames in all.  The threads
 * never stop: the module is not meant to be unloaded.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/kthread.h>

#ifndef DS_THREADS
#define DS_THREADS	500
#endif
#ifndef DS_SLEEP_MS
#define DS_SLEEP_MS	20
#endif

static unsigned long ds_wakeups;

static noinline void ds_frame(unsigned long depth, unsigned long ms)
{
	if (depth > 1)
		ds_frame(depth - 1, ms);
	else
		msleep(ms);
	barrier();	/* no tail call: every frame stays on the stack */
}

static int ds_thread(void *data)
{
	unsigned long i = (unsigned long)data;

	for (;;) {
		ds_frame(3 + i % 11, DS_SLEEP_MS + i % (DS_SLEEP_MS + 1));
		ds_wakeups++;
	}
	return 0;
}

static int deep_sleepers_init(void)
{
	unsigned long i;
	int ret;

	for (i = 0; i < DS_THREADS; i++) {
		ret = kthread_run(ds_thread, (void *)i, "deep_sleeper");
		if (ret < 0)
			return ret;
	}
	return 0;
}

module_init(deep_sleepers_init);
MODULE_LICENSE("GPL");
