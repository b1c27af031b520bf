/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PAGE_H
#define _ASM_X86_PAGE_H

#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)

/* Kernel stacks (the boot stack, and the ones the machine allocates). */
#define THREAD_SIZE		16384

/* Where vmlinux is linked, as in x86-64 Linux. */
#define __START_KERNEL_map	0xffffffff80000000
#define __START_KERNEL		0xffffffff81000000

/* Highest user address + 1 (x86-64 Linux TASK_SIZE_MAX with 4-level paging). */
#define TASK_SIZE_MAX		0x00007ffffffff000UL

#endif
