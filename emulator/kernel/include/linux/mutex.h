/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MUTEX_H
#define _LINUX_MUTEX_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/sched.h>

/*
 * A sleeping lock.  A task that finds it held queues itself on wait_list
 * and sleeps in schedule(); mutex_unlock() hands the lock to the first
 * waiter and wakes it.  The holder may sleep.
 */
struct mutex {
	spinlock_t		wait_lock;
	struct task_struct	*owner;
	struct list_head	wait_list;
};

#define __MUTEX_INITIALIZER(name) {					\
	.wait_lock	= __SPIN_LOCK_UNLOCKED(name.wait_lock),		\
	.owner		= NULL,						\
	.wait_list	= LIST_HEAD_INIT(name.wait_list) }

#define DEFINE_MUTEX(name)	struct mutex name = __MUTEX_INITIALIZER(name)

/* kernel/mutex.c */
void mutex_init(struct mutex *lock);
void mutex_lock(struct mutex *lock);
int mutex_lock_interruptible(struct mutex *lock);
int mutex_trylock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);

static inline bool mutex_is_locked(struct mutex *lock)
{
	return READ_ONCE(lock->owner) != NULL;
}

#endif /* _LINUX_MUTEX_H */
