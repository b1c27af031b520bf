/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_EXTABLE_H
#define _ASM_X86_EXTABLE_H

#include <linux/stringify.h>

/*
 * Exception table, as in x86-64 Linux 6.1 (no .fixup section): 12 bytes,
 *
 *	s32 insn	faulting instruction - &entry->insn
 *	s32 fixup	where to continue - &entry->fixup
 *	s32 data	EX_TYPE_* in bits 0-7 (register/flags/imm above, unused here)
 *
 * When an instruction listed here raises #PF (or #GP), the machine sets
 * %rip to the fixup address and carries on; every other register keeps
 * the value it had at the fault (for "rep movsb", %rcx holds the bytes
 * not yet copied).  The kernel uses only EX_TYPE_DEFAULT and
 * EX_TYPE_UACCESS, which the machine treats the same way.
 */
#define EX_TYPE_NONE		0
#define EX_TYPE_DEFAULT		1
#define EX_TYPE_FAULT		2
#define EX_TYPE_UACCESS		3

#define EX_DATA_TYPE_MASK	0x000000ff

#ifdef __ASSEMBLY__
#define _ASM_EXTABLE_TYPE(from, to, type)			\
	.pushsection "__ex_table","a" ;				\
	.balign 4 ;						\
	.long (from) - . ;					\
	.long (to) - . ;					\
	.long type ;						\
	.popsection
#else
#define _ASM_EXTABLE_TYPE(from, to, type)			\
	" .pushsection \"__ex_table\",\"a\"\n"			\
	" .balign 4\n"						\
	" .long (" #from ") - .\n"				\
	" .long (" #to ") - .\n"				\
	" .long " __stringify(type) " \n"			\
	" .popsection\n"

struct exception_table_entry {
	int insn, fixup, data;
};
#endif

#define _ASM_EXTABLE(from, to)		_ASM_EXTABLE_TYPE(from, to, EX_TYPE_DEFAULT)
#define _ASM_EXTABLE_UA(from, to)	_ASM_EXTABLE_TYPE(from, to, EX_TYPE_UACCESS)

#endif /* _ASM_X86_EXTABLE_H */
