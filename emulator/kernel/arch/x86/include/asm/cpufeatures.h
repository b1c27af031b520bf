/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_CPUFEATURES_H
#define _ASM_X86_CPUFEATURES_H

/*
 * CPU feature bits: word * 32 + bit, the Linux 6.1 numbers for the few
 * features the target knows about.  Word 4 is CPUID leaf 1 %ecx.
 */
#define NCAPINTS			21

#define X86_FEATURE_ALWAYS		( 3*32+21) /* always present */
#define X86_FEATURE_XMM4_2		( 4*32+20) /* SSE-4.2 */
#define X86_FEATURE_POPCNT		( 4*32+23) /* POPCNT instruction */
#define X86_FEATURE_HYPERVISOR		( 4*32+31) /* running on a hypervisor */
#define X86_FEATURE_ERMS		( 9*32+ 9) /* enhanced REP MOVSB/STOSB */

#endif
