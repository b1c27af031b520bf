/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_SPINLOCK_H
#define _ASM_X86_SPINLOCK_H

#include <linux/atomic.h>
#include <asm/processor.h>

/*
 * A test-and-set lock: lock cmpxchg to take it, a plain store to drop it.
 * The machine may preempt at any instruction, including with a lock
 * held; a waiter then spins until the holder runs again.  Never sleep
 * (schedule()) with a spinlock held.
 */
typedef struct {
	atomic_t val;
} arch_spinlock_t;

#define __ARCH_SPIN_LOCK_UNLOCKED	{ ATOMIC_INIT(0) }

static __always_inline int arch_spin_trylock(arch_spinlock_t *lock)
{
	return atomic_read(&lock->val) == 0 &&
	       atomic_cmpxchg(&lock->val, 0, 1) == 0;
}

static __always_inline void arch_spin_lock(arch_spinlock_t *lock)
{
	while (!arch_spin_trylock(lock))
		cpu_relax();
}

static __always_inline void arch_spin_unlock(arch_spinlock_t *lock)
{
	barrier();
	atomic_set(&lock->val, 0);
}

#endif /* _ASM_X86_SPINLOCK_H */
