/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _LINUX_EXPORT_H
#define _LINUX_EXPORT_H

#include <linux/compiler.h>
#include <linux/stringify.h>

/*
 * EXPORT_SYMBOL, laid out as in Linux 6.1 with
 * CONFIG_HAVE_ARCH_PREL32_RELOCATIONS:
 *
 *  - the name (and an empty namespace string) go to __ksymtab_strings as
 *    __kstrtab_<sym> / __kstrtabns_<sym>;
 *  - a 12-byte struct kernel_symbol { s32 value_offset, name_offset,
 *    namespace_offset } goes to "___ksymtab+<sym>" (or
 *    "___ksymtab_gpl+<sym>"), labelled __ksymtab_<sym>; the vmlinux linker
 *    script and scripts/module.lds gather them into __ksymtab(_gpl).
 *
 * scripts/gen-symvers.sh reads the ___ksymtab sections of every object to
 * write Module.symvers.
 */
struct kernel_symbol {
	int value_offset;
	int name_offset;
	int namespace_offset;
};

#define __KSYMTAB_ENTRY(sym, sec)					\
	__ADDRESSABLE(sym)						\
	asm("	.section \"___ksymtab" sec "+" #sym "\", \"a\"	\n"	\
	    "	.balign	4					\n"	\
	    "__ksymtab_" #sym ":				\n"	\
	    "	.long	" #sym "- .				\n"	\
	    "	.long	__kstrtab_" #sym "- .			\n"	\
	    "	.long	__kstrtabns_" #sym "- .			\n"	\
	    "	.previous					\n")

#define ___EXPORT_SYMBOL(sym, sec, ns)					\
	extern __typeof__(sym) sym;					\
	extern const char __kstrtab_##sym[];				\
	extern const char __kstrtabns_##sym[];				\
	asm("	.section \"__ksymtab_strings\",\"aMS\",%progbits,1	\n"	\
	    "__kstrtab_" #sym ":					\n"	\
	    "	.asciz	\"" #sym "\"					\n"	\
	    "__kstrtabns_" #sym ":					\n"	\
	    "	.asciz	\"" ns "\"					\n"	\
	    "	.previous						\n");	\
	__KSYMTAB_ENTRY(sym, sec)

#define EXPORT_SYMBOL(sym)		___EXPORT_SYMBOL(sym, "", "")
#define EXPORT_SYMBOL_GPL(sym)		___EXPORT_SYMBOL(sym, "_gpl", "")

#endif /* _LINUX_EXPORT_H */
