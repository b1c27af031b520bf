/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_THREAD_INFO_H
#define _ASM_X86_THREAD_INFO_H

/*
 * Thread flags: bits of task_struct.thread_flags (Linux keeps them in
 * thread_info.flags).  The bit numbers are Linux's x86 ones.  The machine
 * sets TIF_NOTIFY_SIGNAL when it delivers a fake signal (see ABI.md §5);
 * the kernel clears it on the way back to user space.
 */
#define TIF_SIGPENDING		2	/* a signal is pending (never set: no real signals) */
#define TIF_NOTIFY_SIGNAL	17	/* a fake signal: leave the kernel, restart the call */

#define _TIF_SIGPENDING		(1UL << TIF_SIGPENDING)
#define _TIF_NOTIFY_SIGNAL	(1UL << TIF_NOTIFY_SIGNAL)

#ifndef __ASSEMBLY__

/* Atomic (locked) bit operations on a thread_flags word. */
static __always_inline void set_ti_flag(unsigned long *flags, int bit)
{
	asm volatile("lock btsq %1, %0" : "+m" (*flags) : "Ir" ((long)bit) : "memory", "cc");
}

static __always_inline void clear_ti_flag(unsigned long *flags, int bit)
{
	asm volatile("lock btrq %1, %0" : "+m" (*flags) : "Ir" ((long)bit) : "memory", "cc");
}

static __always_inline bool test_and_set_ti_flag(unsigned long *flags, int bit)
{
	bool old;

	asm volatile("lock btsq %2, %1" : "=@ccc" (old), "+m" (*flags)
		     : "Ir" ((long)bit) : "memory");
	return old;
}

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_X86_THREAD_INFO_H */
