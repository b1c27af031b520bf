/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_EXPORT_H
#define _ASM_X86_EXPORT_H

/* EXPORT_SYMBOL for assembly files: the same layout as <linux/export.h>. */
#ifdef __ASSEMBLY__
.macro ___EXPORT_SYMBOL name, sec
	.section "__ksymtab_strings","aMS",@progbits,1
__kstrtab_\name:
	.asciz "\name"
__kstrtabns_\name:
	.asciz ""
	.section "___ksymtab\sec+\name","a"
	.balign 4
__ksymtab_\name:
	.long \name - .
	.long __kstrtab_\name - .
	.long __kstrtabns_\name - .
	.previous
.endm

#define EXPORT_SYMBOL(name)	___EXPORT_SYMBOL name,
#define EXPORT_SYMBOL_GPL(name)	___EXPORT_SYMBOL name, _gpl
#endif

#endif
