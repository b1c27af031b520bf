/*
 * WARN_ON / BUG_ON, x86-64 style: the trap is a ud2 instruction and the
 * site is described by one __bug_table entry.
 *
 *   struct bug_entry {            offset size
 *       int bug_addr_disp;        0      4   PC32 -> the ud2
 *       int file_disp;            4      4   PC32 -> file name string
 *       unsigned short line;      8      2
 *       unsigned short flags;     10     2
 *   };                            => BUG_STRUCT_SIZE=12
 */
#ifndef KCASE_BUG_H
#define KCASE_BUG_H
#include "kcompiler.h"

struct bug_entry {
	int bug_addr_disp;
	int file_disp;
	unsigned short line;
	unsigned short flags;
};

#define BUGFLAG_WARNING (1 << 0)

#define __kcase_bug_site(insn, bflags)					\
	asm volatile("1:\t" insn "\n"					\
		     "\t.pushsection __bug_table,\"aw\"\n"		\
		     "2:\t.long 1b - .\n"				\
		     "\t.long %c0 - .\n"				\
		     "\t.word %c1\n"					\
		     "\t.word %c2\n"					\
		     "\t.org 2b + %c3\n"				\
		     "\t.popsection"					\
		     : : "i" (__FILE__), "i" (__LINE__), "i" (bflags),	\
		       "i" (sizeof(struct bug_entry)))

#define BUG() do { __kcase_bug_site("ud2", 0); __builtin_unreachable(); } while (0)

#define WARN_ON(cond) ({						\
	int __w = !!(cond);						\
	if (unlikely(__w))						\
		__kcase_bug_site("ud2", BUGFLAG_WARNING);		\
	unlikely(__w);							\
})

#define BUG_ON(cond) do { if (unlikely(cond)) BUG(); } while (0)

#endif
