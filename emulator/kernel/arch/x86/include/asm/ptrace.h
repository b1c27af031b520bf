/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PTRACE_H
#define _ASM_X86_PTRACE_H

/*
 * The user registers of a system call, saved by entry_SYSCALL_64 at the
 * top of the kernel stack and handed back to the machine with
 * HC_SYSCALL_RETURN (ABI.md §5).  On the way out the kernel may turn the
 * call into a restart: PT_RESTART in flags makes the machine issue
 * orig_ax(di, si, dx) again instead of returning ax to user space, as
 * Linux re-executes the syscall instruction (ip -= 2).
 */
#define PT_ORIG_AX	0
#define PT_DI		8
#define PT_SI		16
#define PT_DX		24
#define PT_AX		32
#define PT_FLAGS	40
#define PT_REGS_SIZE	48

#define PT_RESTART	1	/* flags: issue the system call again */

#ifndef __ASSEMBLY__

#include <linux/build_bug.h>
#include <linux/stddef.h>

struct pt_regs {
	unsigned long	orig_ax;	/* the system call number */
	unsigned long	di;		/* first argument */
	unsigned long	si;		/* second argument */
	unsigned long	dx;		/* third argument */
	unsigned long	ax;		/* the result */
	unsigned long	flags;		/* PT_RESTART */
};

static_assert(offsetof(struct pt_regs, orig_ax) == PT_ORIG_AX);
static_assert(offsetof(struct pt_regs, di) == PT_DI);
static_assert(offsetof(struct pt_regs, si) == PT_SI);
static_assert(offsetof(struct pt_regs, dx) == PT_DX);
static_assert(offsetof(struct pt_regs, ax) == PT_AX);
static_assert(offsetof(struct pt_regs, flags) == PT_FLAGS);
static_assert(sizeof(struct pt_regs) == PT_REGS_SIZE);

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_X86_PTRACE_H */
