/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_BUG_H
#define _ASM_X86_BUG_H

#include <linux/stringify.h>
#include <asm/asm.h>

/*
 * BUG and WARN sites are a "ud2" plus a __bug_table entry, as on x86-64
 * Linux 6.1 with CONFIG_DEBUG_BUGVERBOSE: 12 bytes,
 *
 *	s32 bug_addr_disp	ud2 address - &entry->bug_addr_disp
 *	s32 file_disp		file name string - &entry->file_disp
 *	u16 line
 *	u16 flags		BUGFLAG_*
 *
 * When the CPU raises #UD, the machine looks the address up in the bug
 * tables (vmlinux and loaded modules).  A WARNING prints a report and
 * resumes after the 2-byte ud2; a BUG prints "kernel BUG at file:line!"
 * and kills the task.  With BUGFLAG_ONCE the machine sets BUGFLAG_DONE in
 * the entry (the section is writable) and stays silent afterwards.
 */
#define BUGFLAG_WARNING		(1 << 0)
#define BUGFLAG_ONCE		(1 << 1)
#define BUGFLAG_DONE		(1 << 2)
#define BUGFLAG_NO_CUT_HERE	(1 << 3)	/* CUT_HERE already printed */
#define BUGFLAG_TAINT(taint)	((taint) << 8)

#define TAINT_WARN		9

#ifndef __ASSEMBLY__

struct bug_entry {
	signed int	bug_addr_disp;
	signed int	file_disp;
	unsigned short	line;
	unsigned short	flags;
};

#define __BUG_REL(val)	".long " __stringify(val) " - ."

#define _BUG_FLAGS(ins, flags)						\
do {									\
	asm_inline volatile("1:\t" ins "\n"				\
		     ".pushsection __bug_table,\"aw\"\n"		\
		     "2:\t" __BUG_REL(1b) "\t# bug_entry::bug_addr\n"	\
		     "\t"  __BUG_REL(%c0) "\t# bug_entry::file\n"	\
		     "\t.word %c1"        "\t# bug_entry::line\n"	\
		     "\t.word %c2"        "\t# bug_entry::flags\n"	\
		     "\t.org 2b+%c3\n"					\
		     ".popsection\n"					\
		     : : "i" (__FILE__), "i" (__LINE__),		\
			 "i" (flags),					\
			 "i" (sizeof(struct bug_entry)));		\
} while (0)

#define BUG()								\
do {									\
	_BUG_FLAGS(ASM_UD2, 0);						\
	__builtin_unreachable();					\
} while (0)

#define __WARN_FLAGS(flags)						\
do {									\
	_BUG_FLAGS(ASM_UD2, BUGFLAG_WARNING | (flags));			\
} while (0)

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_X86_BUG_H */
