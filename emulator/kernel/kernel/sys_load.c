// SPDX-License-Identifier: GPL-2.0
/*
 * System calls that load the kernel, for the "loaded" workload
 * (emulator/workload): long stretches of kernel work with voluntary
 * preemption points, work done holding a spinlock, and sleeps holding a
 * mutex that other tasks block on.
 *
 *	sys_kwork(iters, k)		kwork_step() iters times, cond_resched() every k
 *	sys_spin_work(idx, iters)	the same with load_spinlock[idx] held throughout
 *	sys_mutex_sleep(idx, ns)	take load_mutex[idx], sleep ns holding it
 *
 * The work is a hash over a small kernel table; each call returns a
 * value that depends only on its arguments, so a caller can check that
 * an interrupted and restarted call gave the same answer.
 */
#include <linux/kernel.h>
#include <linux/syscalls.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/ktime.h>

#define NR_LOAD_LOCKS	16
#define LOAD_TABLE_SIZE	64

static spinlock_t load_spinlock[NR_LOAD_LOCKS] = {
	[0 ... NR_LOAD_LOCKS - 1] = __SPIN_LOCK_UNLOCKED(load_spinlock),
};
static struct mutex load_mutex[NR_LOAD_LOCKS];
static u64 load_table[LOAD_TABLE_SIZE];
static bool load_ready;
static DEFINE_SPINLOCK(load_init_lock);

/* Work done under each spinlock, so the lock protects something. */
static unsigned long load_spin_work[NR_LOAD_LOCKS];

static void load_init(void)
{
	int i;

	if (READ_ONCE(load_ready))
		return;
	spin_lock(&load_init_lock);
	if (!load_ready) {
		for (i = 0; i < NR_LOAD_LOCKS; i++)
			mutex_init(&load_mutex[i]);
		for (i = 0; i < LOAD_TABLE_SIZE; i++)
			load_table[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
		WRITE_ONCE(load_ready, true);
	}
	spin_unlock(&load_init_lock);
}

/* One step of kernel work: a table look-up and a mix. */
static noinline u64 kwork_step(u64 h, unsigned long i)
{
	h ^= load_table[(h ^ i) % LOAD_TABLE_SIZE];
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 29);
}

/* iters steps of kernel work, cond_resched() every k (k = 0: never). */
long sys_kwork(unsigned long iters, unsigned long k)
{
	u64 h = iters;
	unsigned long i;

	load_init();
	for (i = 0; i < iters; i++) {
		h = kwork_step(h, i);
		if (k && (i + 1) % k == 0)
			cond_resched();
	}
	return h & 0x7fffffffffffffffULL;
}

/* iters steps of kernel work with load_spinlock[idx] held throughout. */
long sys_spin_work(unsigned long idx, unsigned long iters)
{
	u64 h = iters;
	unsigned long i;

	if (idx >= NR_LOAD_LOCKS)
		return -EINVAL;
	load_init();
	spin_lock(&load_spinlock[idx]);
	for (i = 0; i < iters; i++)
		h = kwork_step(h, i);
	load_spin_work[idx] += iters;
	spin_unlock(&load_spinlock[idx]);
	return h & 0x7fffffffffffffffULL;
}

static long mutex_sleep_restart(struct restart_block *restart);

/*
 * With load_mutex[idx] held, sleep until expires; drop it.  A signal ends
 * the sleep: the mutex is dropped all the same and the call is set up to
 * restart where it stopped.
 */
static long mutex_hold_until(unsigned long idx, u64 expires)
{
	struct restart_block *restart = &current->restart_block;
	long ret = nanosleep_until(expires);

	mutex_unlock(&load_mutex[idx]);
	if (ret) {
		restart->fn = mutex_sleep_restart;
		restart->arg = idx;
		restart->expires = expires;
	}
	return ret;
}

/* The restart of an interrupted hold: take the mutex again, sleep on. */
static long mutex_sleep_restart(struct restart_block *restart)
{
	if (mutex_lock_interruptible(&load_mutex[restart->arg]))
		return -ERESTART_RESTARTBLOCK;	/* the same restart again */
	return mutex_hold_until(restart->arg, restart->expires);
}

/*
 * Take load_mutex[idx] and sleep ns of virtual time holding it; returns
 * 0.  A signal while waiting for the mutex restarts the call from the
 * start (nothing was done); a signal while holding it drops the mutex
 * and restarts the call where it stopped: it takes the mutex again and
 * sleeps until the same deadline.
 */
long sys_mutex_sleep(unsigned long idx, unsigned long ns)
{
	long ret;

	if (idx >= NR_LOAD_LOCKS)
		return -EINVAL;
	load_init();
	if (mutex_lock_interruptible(&load_mutex[idx]))
		return -ERESTARTSYS;
	ret = mutex_hold_until(idx, ktime_get_ns() + ns);
	prevent_tail_call_optimization();
	return ret;
}
