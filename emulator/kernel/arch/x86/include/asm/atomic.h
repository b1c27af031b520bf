/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_ATOMIC_H
#define _ASM_X86_ATOMIC_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <asm/alternative.h>

#define ATOMIC_INIT(i)	{ (i) }

static __always_inline int arch_atomic_read(const atomic_t *v)
{
	return READ_ONCE(v->counter);
}

static __always_inline void arch_atomic_set(atomic_t *v, int i)
{
	WRITE_ONCE(v->counter, i);
}

static __always_inline void arch_atomic_inc(atomic_t *v)
{
	asm volatile(LOCK_PREFIX "incl %0" : "+m" (v->counter) :: "memory");
}

static __always_inline void arch_atomic_dec(atomic_t *v)
{
	asm volatile(LOCK_PREFIX "decl %0" : "+m" (v->counter) :: "memory");
}

static __always_inline int arch_atomic_add_return(int i, atomic_t *v)
{
	int old = i;

	asm volatile(LOCK_PREFIX "xaddl %0, %1"
		     : "+r" (old), "+m" (v->counter) : : "memory", "cc");
	return old + i;
}

static __always_inline int arch_atomic_cmpxchg(atomic_t *v, int old, int new)
{
	int ret;

	asm volatile(LOCK_PREFIX "cmpxchgl %2, %1"
		     : "=a" (ret), "+m" (v->counter)
		     : "r" (new), "0" (old)
		     : "memory", "cc");
	return ret;
}

static __always_inline int arch_atomic_xchg(atomic_t *v, int new)
{
	/* xchg with memory is implicitly locked: no LOCK_PREFIX. */
	asm volatile("xchgl %0, %1" : "+r" (new), "+m" (v->counter) : : "memory");
	return new;
}

#endif /* _ASM_X86_ATOMIC_H */
