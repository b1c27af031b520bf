/*
 * EXPORT_SYMBOL, simple absolute form (pre-4.19 x86-64 layout):
 *
 *   struct kernel_symbol {    offset size
 *       unsigned long value;  0      8   R_X86_64_64 -> the symbol
 *       const char *name;     8      8   R_X86_64_64 -> __kstrtab_<sym>
 *   };                        16 bytes, one per export, in section
 *                             "___ksymtab+<sym>"; the name string is
 *                             the static __kstrtab_<sym> in __ksymtab_strings.
 */
#ifndef KCASE_EXPORT_H
#define KCASE_EXPORT_H
#include "kcompiler.h"

struct kernel_symbol {
	unsigned long value;
	const char *name;
};

#define EXPORT_SYMBOL(sym)							\
	extern __typeof__(sym) sym;						\
	static const char __kstrtab_##sym[]					\
		__section("__ksymtab_strings") __used __aligned(1) = #sym;	\
	static const struct kernel_symbol __ksymtab_##sym			\
		__section("___ksymtab+" #sym) __used __aligned(8) =		\
		{ (unsigned long)&sym, __kstrtab_##sym }

#endif
