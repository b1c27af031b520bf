/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entries from the machine into C, for tasks that start with an empty
 * kernel stack.  Each clears %rbp (the bottom of the frame-pointer
 * chain) and calls the C function, so that a stack walk ends in one of
 * these with a return address inside it.
 */
#include <asm/linkage.h>
#include <asm/hypercall.h>
#include <asm/ptrace.h>
#include <linux/errno.h>

	.text

/*
 * A system call.  The task is a user process (a script in the machine);
 * the machine sets %rsp to the top of its kernel stack (16-byte aligned),
 * %rdi = nr, %rsi/%rdx/%rcx = the arguments, and jumps here.  The user
 * registers are saved as a struct pt_regs (asm/ptrace.h);
 * do_syscall(nr, a0, a1, a2) returns the result into regs->ax;
 * syscall_exit_to_user_mode(regs) handles a pending signal, which may
 * turn the call into a restart; HC_SYSCALL_RETURN(regs) goes back to the
 * script, which gets regs->ax or issues the call again.
 */
SYM_FUNC_START(entry_SYSCALL_64)
	xorl	%ebp, %ebp
	pushq	$0			/* regs->flags */
	pushq	$-ENOSYS		/* regs->ax */
	pushq	%rcx			/* regs->dx: third argument */
	pushq	%rdx			/* regs->si */
	pushq	%rsi			/* regs->di */
	pushq	%rdi			/* regs->orig_ax: the number */
	call	do_syscall
	movq	%rax, PT_AX(%rsp)
	movq	%rsp, %rdi
	call	syscall_exit_to_user_mode
	movq	%rsp, %rdi
	movl	$HC_SYSCALL_RETURN, %eax
	vmcall
	ud2
SYM_FUNC_END(entry_SYSCALL_64)

/*
 * A new kernel thread (HC_KTHREAD_CREATE): the machine starts it here
 * with %rdi = arg, %rsi = fn and %rsp 16-byte aligned at the top of its
 * kernel stack.  If fn(arg) returns, the task exits with its result.
 */
SYM_FUNC_START(ret_from_fork)
	xorl	%ebp, %ebp
	call	*%rsi
	movq	%rax, %rdi
	movl	$HC_EXIT, %eax
	vmcall
	ud2
SYM_FUNC_END(ret_from_fork)

	.section .note.GNU-stack, "", @progbits
