// SPDX-License-Identifier: GPL-2.0
/*
 * Mutexes: sleeping locks with direct hand-off.  The waiters sleep in
 * schedule() with a mutex_waiter on their stack, queued in FIFO order;
 * mutex_unlock() makes the first waiter the owner before waking it, so
 * a woken waiter never has to compete again.  A waiter in
 * mutex_lock_interruptible() leaves the queue when a signal is pending
 * and returns -EINTR, holding nothing.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/mutex.h>
#include <linux/sched.h>

struct mutex_waiter {
	struct list_head	list;
	struct task_struct	*task;
};

void mutex_init(struct mutex *lock)
{
	spin_lock_init(&lock->wait_lock);
	lock->owner = NULL;
	INIT_LIST_HEAD(&lock->wait_list);
}
EXPORT_SYMBOL(mutex_init);

/* Returns 1 if the lock was free and is now current's. */
int mutex_trylock(struct mutex *lock)
{
	int taken = 0;

	spin_lock(&lock->wait_lock);
	if (!lock->owner) {
		lock->owner = current;
		taken = 1;
	}
	spin_unlock(&lock->wait_lock);
	return taken;
}
EXPORT_SYMBOL(mutex_trylock);

static int __sched __mutex_lock(struct mutex *lock, unsigned int state)
{
	struct mutex_waiter waiter = { .task = current };
	int ret = 0;

	spin_lock(&lock->wait_lock);
	if (!lock->owner) {
		lock->owner = current;
		spin_unlock(&lock->wait_lock);
		return 0;
	}
	list_add_tail(&waiter.list, &lock->wait_list);
	for (;;) {
		set_current_state(state);
		if (lock->owner == current)	/* handed over by mutex_unlock() */
			break;
		if (state == TASK_INTERRUPTIBLE && signal_pending(current)) {
			list_del_init(&waiter.list);
			ret = -EINTR;
			break;
		}
		spin_unlock(&lock->wait_lock);
		schedule();
		spin_lock(&lock->wait_lock);
	}
	__set_current_state(TASK_RUNNING);
	spin_unlock(&lock->wait_lock);
	return ret;
}

/* Take the lock, sleeping as long as it takes; signals do not end it. */
void __sched mutex_lock(struct mutex *lock)
{
	__mutex_lock(lock, TASK_UNINTERRUPTIBLE);
}
EXPORT_SYMBOL(mutex_lock);

/* Take the lock: 0, or -EINTR (not taken) if a signal is pending first. */
int __sched mutex_lock_interruptible(struct mutex *lock)
{
	return __mutex_lock(lock, TASK_INTERRUPTIBLE);
}
EXPORT_SYMBOL(mutex_lock_interruptible);

/* Release the lock; the first waiter, if any, gets it and is woken. */
void mutex_unlock(struct mutex *lock)
{
	struct mutex_waiter *next = NULL;

	spin_lock(&lock->wait_lock);
	WARN_ON(lock->owner != current);
	if (!list_empty(&lock->wait_list)) {
		next = list_first_entry(&lock->wait_list, struct mutex_waiter, list);
		list_del_init(&next->list);
		lock->owner = next->task;
		wake_up_process(next->task);
	} else {
		lock->owner = NULL;
	}
	spin_unlock(&lock->wait_lock);
}
EXPORT_SYMBOL(mutex_unlock);
