/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PROCESSOR_H
#define _ASM_X86_PROCESSOR_H

/* "pause" (f3 90): a spin-wait hint. */
static __always_inline void cpu_relax(void)
{
	asm volatile("rep; nop" ::: "memory");
}

#endif
