/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_CPUFEATURE_H
#define _ASM_X86_CPUFEATURE_H

#include <linux/types.h>
#include <asm/cpufeatures.h>

/*
 * The machine fills boot_cpu_data.x86_capability[] before start_kernel
 * with the same feature bits it uses to apply alternatives.
 */
struct cpuinfo_x86 {
	u32 x86_capability[NCAPINTS];
};

extern struct cpuinfo_x86 boot_cpu_data;

static inline bool boot_cpu_has(unsigned int bit)
{
	return (boot_cpu_data.x86_capability[bit / 32] >> (bit % 32)) & 1;
}

#endif
