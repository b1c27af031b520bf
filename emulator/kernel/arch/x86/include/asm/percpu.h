/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PERCPU_H
#define _ASM_X86_PERCPU_H

/*
 * Per-CPU variables, as on x86-64 Linux: .data..percpu is linked at
 * address 0, so the link-time address of a per-CPU variable is its offset
 * inside a per-CPU area, and every CPU's %gs base points at its own area.
 * An access is one instruction with a %gs override ("movq %gs:var, %rax"),
 * which makes this_cpu_inc() safe against preemption at any instruction
 * boundary.
 *
 * "%z0" prints the operand-size suffix (b/w/l/q) of the variable.
 */
#define __percpu_seg		gs

#define this_cpu_read(var) ({						\
	__typeof__(var) pfo_ret__;					\
	asm volatile("mov%z1 %%gs:%1, %0" : "=r"(pfo_ret__) : "m"(var));\
	pfo_ret__; })

/* Like this_cpu_read() but may be cached by the compiler (for current). */
#define this_cpu_read_stable(var) ({					\
	__typeof__(var) pfo_ret__;					\
	asm("mov%z1 %%gs:%1, %0" : "=r"(pfo_ret__) : "m"(var));		\
	pfo_ret__; })

#define this_cpu_write(var, val) do {					\
	__typeof__(var) pto_val__ = (val);				\
	asm volatile("mov%z0 %1, %%gs:%0" : "+m"(var) : "re"(pto_val__));\
} while (0)

#define this_cpu_add(var, val) do {					\
	__typeof__(var) pto_val__ = (val);				\
	asm volatile("add%z0 %1, %%gs:%0" : "+m"(var) : "re"(pto_val__));\
} while (0)

#define this_cpu_inc(var)						\
	asm volatile("inc%z0 %%gs:%0" : "+m"(var))

#define this_cpu_dec(var)						\
	asm volatile("dec%z0 %%gs:%0" : "+m"(var))

#endif /* _ASM_X86_PERCPU_H */
