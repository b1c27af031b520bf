/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_WAIT_H
#define _LINUX_WAIT_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

struct wait_queue_entry {
	struct task_struct	*task;
	struct list_head	entry;
};

struct wait_queue_head {
	spinlock_t		lock;
	struct list_head	head;
};
typedef struct wait_queue_head wait_queue_head_t;
typedef struct wait_queue_entry wait_queue_entry_t;

#define __WAIT_QUEUE_HEAD_INITIALIZER(name) {				\
	.lock		= __SPIN_LOCK_UNLOCKED(name.lock),		\
	.head		= LIST_HEAD_INIT(name.head) }

#define DECLARE_WAIT_QUEUE_HEAD(name) \
	struct wait_queue_head name = __WAIT_QUEUE_HEAD_INITIALIZER(name)

#define DEFINE_WAIT(name)						\
	struct wait_queue_entry name = {				\
		.task	= current,					\
		.entry	= LIST_HEAD_INIT((name).entry),			\
	}

/* kernel/sched.c */
void init_waitqueue_head(struct wait_queue_head *wq_head);
void prepare_to_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry,
		     int state);
long prepare_to_wait_event(struct wait_queue_head *wq_head,
			   struct wait_queue_entry *wq_entry, int state);
void finish_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry);
int __wake_up(struct wait_queue_head *wq_head, int nr);

#define wake_up(x)		__wake_up(x, 1)
#define wake_up_all(x)		__wake_up(x, 0)

/*
 * A wake-up that reaches a task before it sleeps is remembered by the
 * machine (HC_WAKE on a running task makes its next sleep return at
 * once), so "prepare, test, schedule" never loses one.  wait_event()
 * sleeps in TASK_UNINTERRUPTIBLE: signals do not end it.
 */
#define wait_event(wq_head, condition)					\
do {									\
	DEFINE_WAIT(__wait);						\
	for (;;) {							\
		prepare_to_wait(&(wq_head), &__wait, TASK_UNINTERRUPTIBLE); \
		if (condition)						\
			break;						\
		schedule();						\
	}								\
	finish_wait(&(wq_head), &__wait);				\
} while (0)

/*
 * Sleep in TASK_INTERRUPTIBLE until condition: 0, or -ERESTARTSYS if a
 * signal is pending first (the entry has left the queue either way).
 */
#define wait_event_interruptible(wq_head, condition) ({			\
	long __ret = 0;							\
	DEFINE_WAIT(__wait);						\
	for (;;) {							\
		__ret = prepare_to_wait_event(&(wq_head), &__wait,	\
					      TASK_INTERRUPTIBLE);	\
		if (condition) {					\
			__ret = 0;					\
			break;						\
		}							\
		if (__ret)						\
			break;						\
		schedule();						\
	}								\
	finish_wait(&(wq_head), &__wait);				\
	__ret;								\
})

/* Returns the time left (ns), 0 if the timeout elapsed without condition. */
#define wait_event_timeout(wq_head, condition, timeout_ns) ({		\
	long __ret = (timeout_ns);					\
	DEFINE_WAIT(__wait);						\
	for (;;) {							\
		prepare_to_wait(&(wq_head), &__wait, TASK_UNINTERRUPTIBLE); \
		if (condition) {					\
			if (!__ret)					\
				__ret = 1;				\
			break;						\
		}							\
		if (!__ret)						\
			break;						\
		__ret = schedule_timeout(__ret);			\
	}								\
	finish_wait(&(wq_head), &__wait);				\
	__ret;								\
})

#endif /* _LINUX_WAIT_H */
