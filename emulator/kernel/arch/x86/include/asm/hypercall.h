/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_HYPERCALL_H
#define _ASM_X86_HYPERCALL_H

/*
 * Hypercalls: how the kernel asks the emulated machine for a service.
 * ABI.md is the full description; this header is the authority for the
 * numbers.
 *
 *   instruction  vmcall (0f 01 c1)
 *   number       %rax
 *   arguments    %rdi, %rsi, %rdx, %r10, %r8, %r9 (as many as the call takes)
 *   result       %rax (negative errno on failure)
 *   preserved    every other general register; the flags are undefined
 *
 * An unknown number is a machine error naming the number and the %rip of
 * the vmcall.  Numbers 0x100 and up are reserved for the kernel services
 * written in Go (module loader, livepatch core), added later.
 */
#define HC_CONSOLE_WRITE	0x01	/* (const char *buf, unsigned long len) -> len */
#define HC_SCHEDULE		0x02	/* () -> 0: sleep until woken */
#define HC_SLEEP_TIMEOUT	0x03	/* (u64 ns) -> ns left, 0 if the timeout expired */
#define HC_WAKE			0x04	/* (pid) -> 1 woken, 0 was not asleep, -ESRCH */
#define HC_KTHREAD_CREATE	0x05	/* (int (*fn)(void *), void *arg, const char *name) -> pid */
#define HC_GETPID		0x06	/* () -> pid of the calling task */
#define HC_CLOCK		0x07	/* () -> virtual time in ns */
#define HC_EXIT			0x08	/* (long code) -> does not return */
#define HC_CPU_ID		0x09	/* () -> number of the calling CPU */
#define HC_IDLE			0x0a	/* () -> 0: this CPU has nothing to run */
#define HC_BOOT_DONE		0x0b	/* () -> 0: boot finished, start the other CPUs and user space */
#define HC_YIELD		0x0c	/* (int cond) -> 0: stay runnable, let another task run; cond != 0: only at a
					   preemption point's terms (stopper waiting, or time slice used up) */
#define HC_JUMP_LABEL		0x0d	/* (struct static_key *key) -> number of sites rewritten */
#define HC_PANIC		0x0e	/* (const char *msg) -> does not return: machine stops */
#define HC_SYSCALL_RETURN	0x0f	/* (struct pt_regs *regs) -> does not return: back to the user script */

#define HC_STOPPER_CREATE	0x10	/* (int (*fn)(void *), void *arg, const char *name, int cpu) -> pid:
					   the CPU's stopper thread, bound to it, run before any other task */
#define HC_TASK_INFO		0x11	/* (pid, struct task_info *) -> 0 or -ESRCH */
#define HC_TASK_HOLD		0x12	/* (pid, int hold) -> 0, -EBUSY (running), -ESRCH: hold keeps it off CPUs */

#define HC_NR_KERNEL		0x13	/* first unused number below 0x100 */

#ifndef __ASSEMBLY__

static __always_inline long hypercall0(unsigned long nr)
{
	long ret;

	asm volatile("vmcall" : "=a"(ret) : "a"(nr) : "memory", "cc");
	return ret;
}

static __always_inline long hypercall1(unsigned long nr, unsigned long a0)
{
	long ret;

	asm volatile("vmcall" : "=a"(ret) : "a"(nr), "D"(a0) : "memory", "cc");
	return ret;
}

static __always_inline long hypercall2(unsigned long nr, unsigned long a0,
				       unsigned long a1)
{
	long ret;

	asm volatile("vmcall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a0), "S"(a1)
		     : "memory", "cc");
	return ret;
}

static __always_inline long hypercall3(unsigned long nr, unsigned long a0,
				       unsigned long a1, unsigned long a2)
{
	long ret;

	asm volatile("vmcall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
		     : "memory", "cc");
	return ret;
}

static __always_inline long hypercall4(unsigned long nr, unsigned long a0,
				       unsigned long a1, unsigned long a2,
				       unsigned long a3)
{
	register unsigned long r10 asm("r10") = a3;
	long ret;

	asm volatile("vmcall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
		     : "memory", "cc");
	return ret;
}

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_X86_HYPERCALL_H */
