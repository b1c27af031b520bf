/*
 * User-access with an exception-table entry, x86-64 6.x style.
 *
 *   struct exception_table_entry {  offset size
 *       int insn;                   0      4   PC32 -> faulting insn
 *       int fixup;                  4      4   PC32 -> where to resume
 *       int data;                   8      4   handler type (no reloc)
 *   };                              => EX_STRUCT_SIZE=12
 */
#ifndef KCASE_UACCESS_H
#define KCASE_UACCESS_H
#include "kcompiler.h"

struct exception_table_entry {
	int insn, fixup, data;
};

#define EX_TYPE_UACCESS 3

#define __kcase_extable(from, to, type)				\
	"\t.pushsection __ex_table,\"a\"\n"			\
	"\t.balign 4\n"						\
	"\t.long (" #from ") - .\n"				\
	"\t.long (" #to ") - .\n"				\
	"\t.long " __kstr(type) "\n"				\
	"\t.popsection\n"

/* Load one u32 from user memory; on a fault execution resumes after it. */
static __always_inline int get_user_u32(unsigned int *dst, const unsigned int __user *src)
{
	int err = 0;
	unsigned int v = 0;

	asm volatile("1:\tmovl %2, %1\n"
		     "2:\n"
		     __kcase_extable(1b, 2b, EX_TYPE_UACCESS)
		     : "+r" (err), "+r" (v)
		     : "m" (*src));
	*dst = v;
	return err;
}

static __always_inline int put_user_u32(unsigned int val, unsigned int __user *dst)
{
	int err = 0;

	asm volatile("1:\tmovl %1, %2\n"
		     "2:\n"
		     __kcase_extable(1b, 2b, EX_TYPE_UACCESS)
		     : "+r" (err)
		     : "r" (val), "m" (*dst) : "memory");
	return err;
}

#endif
