/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entries from the machine into C, for tasks that start with an empty
 * kernel stack.  Each clears %rbp (the bottom of the frame-pointer
 * chain) and calls the C function, so that a stack walk ends in one of
 * these with a return address inside it.
 */
#include <asm/linkage.h>
#include <asm/hypercall.h>

	.text

/*
 * A system call.  The task is a user process (a script in the machine);
 * the machine sets %rsp to the top of its kernel stack (16-byte aligned),
 * %rdi = nr, %rsi/%rdx/%rcx = the arguments, and jumps here.
 * do_syscall(nr, a0, a1, a2) returns the result, which goes back to the
 * script with HC_SYSCALL_RETURN.
 */
SYM_FUNC_START(entry_SYSCALL_64)
	xorl	%ebp, %ebp
	call	do_syscall
	movq	%rax, %rdi
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
