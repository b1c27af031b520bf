/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where each CPU starts.  The machine has already loaded vmlinux, applied
 * the alternatives, set this CPU's %gs base to its per-CPU area and
 * pointed current_task at the CPU's first task.  %rsp is 16-byte aligned
 * at the top of a stack: init_stack on CPU 0, a machine-allocated idle
 * stack on the others.  These never return.
 */
#include <asm/linkage.h>
#include <asm/page.h>

	.section ".head.text", "ax"

/* CPU 0: the boot task, which becomes CPU 0's idle task. */
SYM_FUNC_START(startup_64)
	xorl	%ebp, %ebp		/* end of the frame-pointer chain */
	call	start_kernel
	ud2
SYM_FUNC_END(startup_64)

/* Other CPUs, started by the machine after HC_BOOT_DONE. */
SYM_FUNC_START(secondary_startup_64)
	xorl	%ebp, %ebp
	call	start_secondary
	ud2
SYM_FUNC_END(secondary_startup_64)

/* The boot stack of CPU 0 (THREAD_SIZE bytes, %rsp starts at the top). */
	.section ".bss..page_aligned", "aw", @nobits
	.balign 4096
SYM_DATA_START(init_stack)
	.skip	THREAD_SIZE
SYM_DATA_END(init_stack)

	.section .note.GNU-stack, "", @progbits
