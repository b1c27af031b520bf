/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_LINKAGE_H
#define _ASM_X86_LINKAGE_H

#ifdef __ASSEMBLY__
#define SYM_FUNC_START(name)		\
	.globl name;			\
	.type name, @function;		\
	.balign 16;			\
name:

#define SYM_FUNC_END(name)		\
	.size name, . - name

#define SYM_DATA_START(name)		\
	.globl name;			\
	.type name, @object;		\
name:

#define SYM_DATA_END(name)		\
	.size name, . - name
#endif

#endif
