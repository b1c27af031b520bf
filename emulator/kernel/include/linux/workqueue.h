/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_WORKQUEUE_H
#define _LINUX_WORKQUEUE_H

#include <linux/list.h>

/*
 * A single worker kthread ("kworker") runs queued work items in order
 * (kernel/workqueue.c).
 */
struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct work_struct {
	struct list_head	entry;
	work_func_t		func;
	bool			pending;
};

#define __WORK_INITIALIZER(n, f) {					\
	.entry	= LIST_HEAD_INIT((n).entry),				\
	.func	= (f),							\
	.pending = false,						\
	}

#define DECLARE_WORK(n, f)	struct work_struct n = __WORK_INITIALIZER(n, f)

bool schedule_work(struct work_struct *work);
void workqueue_init(void);

#endif
