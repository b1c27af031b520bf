/*
 * LOCK_PREFIX records the address of every lock prefix in .smp_locks:
 * one s32 PC-relative entry (4 bytes) per site, so the kernel can patch
 * the prefix out on UP systems.
 */
#ifndef KCASE_ATOMIC_H
#define KCASE_ATOMIC_H
#include "kcompiler.h"

#define LOCK_PREFIX_HERE			\
	"\t.pushsection .smp_locks,\"a\"\n"	\
	"\t.balign 4\n"				\
	"\t.long 671f - .\n"			\
	"\t.popsection\n"			\
	"671:"

#define LOCK_PREFIX LOCK_PREFIX_HERE "\n\tlock "

typedef struct { int counter; } atomic_t;

static __always_inline void atomic_inc(atomic_t *v)
{
	asm volatile(LOCK_PREFIX "incl %0" : "+m" (v->counter) : : "memory");
}

static __always_inline void atomic_add(int i, atomic_t *v)
{
	asm volatile(LOCK_PREFIX "addl %1, %0" : "+m" (v->counter) : "ir" (i) : "memory");
}

static __always_inline int atomic_read(const atomic_t *v)
{
	return READ_ONCE(v->counter);
}

#endif
