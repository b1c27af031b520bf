/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_CURRENT_H
#define _ASM_X86_CURRENT_H

#include <linux/percpu.h>

struct task_struct;

/*
 * The machine writes this CPU's running task into current_task (in the
 * CPU's per-CPU area) every time it switches tasks on the CPU.
 */
DECLARE_PER_CPU(struct task_struct *, current_task);

static __always_inline struct task_struct *get_current(void)
{
	return this_cpu_read_stable(current_task);
}

#define current get_current()

#endif
