/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_KTHREAD_H
#define _LINUX_KTHREAD_H

#include <linux/sched.h>

/*
 * kernel/kthread.c.  The machine creates the task (HC_KTHREAD_CREATE);
 * it starts runnable in kthread(), which calls threadfn(data) and then
 * do_exit() with its result.  Returns the new task's pid, or -errno.
 */
int kthread_run(int (*threadfn)(void *data), void *data, const char *name);

#endif
