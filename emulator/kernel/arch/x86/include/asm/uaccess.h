/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_UACCESS_H
#define _ASM_X86_UACCESS_H

#include <linux/types.h>
#include <linux/errno.h>
#include <asm/extable.h>
#include <asm/page.h>

/*
 * User memory.  User processes are scripts run by the machine; the
 * buffers they pass to system calls live in a user-mapped region below
 * TASK_SIZE_MAX.  The kernel reads and writes them directly (no SMAP);
 * an unmapped user address raises #PF and the __ex_table entry of the
 * accessing instruction turns that into -EFAULT.  A pointer at or above
 * TASK_SIZE_MAX is refused by access_ok() before any access.
 */
static __always_inline bool __access_ok(const void __user *ptr, unsigned long size)
{
	unsigned long addr = (unsigned long)ptr;

	return size <= TASK_SIZE_MAX && addr <= TASK_SIZE_MAX - size;
}
#define access_ok(addr, size)	__access_ok((const void __user *)(addr), (size))

/*
 * get_user()/put_user() of 1, 2, 4 or 8 bytes: one mov, listed in
 * __ex_table with the error label as fixup (asm goto, like Linux with
 * CONFIG_CC_HAS_ASM_GOTO_OUTPUT).
 */
#define __DEFINE_UACCESS(bits, type)					\
static __always_inline int __get_user_##bits(unsigned long *val,	\
					     const void __user *p)	\
{									\
	type v;								\
									\
	asm_volatile_goto("1: mov%z1 %1, %0\n"				\
			  _ASM_EXTABLE_UA(1b, %l2)			\
			  : "=r"(v) : "m"(*(const type *)p)		\
			  : : efault);					\
	*val = v;							\
	return 0;							\
efault:									\
	return -EFAULT;							\
}									\
static __always_inline int __put_user_##bits(type v, void __user *p)	\
{									\
	asm_volatile_goto("1: mov%z0 %1, %0\n"				\
			  _ASM_EXTABLE_UA(1b, %l2)			\
			  : : "m"(*(type *)p), "r"(v)			\
			  : "memory" : efault);				\
	return 0;							\
efault:									\
	return -EFAULT;							\
}

__DEFINE_UACCESS(8, u8)
__DEFINE_UACCESS(16, u16)
__DEFINE_UACCESS(32, u32)
__DEFINE_UACCESS(64, u64)

extern void __get_user_bad(void);	/* never defined: link error on bad sizes */

#define get_user(x, ptr) ({						\
	int __gu_err = -EFAULT;						\
	unsigned long __gu_val = 0;					\
	if (access_ok(ptr, sizeof(*(ptr)))) {				\
		switch (sizeof(*(ptr))) {				\
		case 1: __gu_err = __get_user_8(&__gu_val, ptr); break;	\
		case 2: __gu_err = __get_user_16(&__gu_val, ptr); break;\
		case 4: __gu_err = __get_user_32(&__gu_val, ptr); break;\
		case 8: __gu_err = __get_user_64(&__gu_val, ptr); break;\
		default: __get_user_bad();				\
		}							\
	}								\
	(x) = (__typeof__(*(ptr)))__gu_val;				\
	__gu_err;							\
})

#define put_user(x, ptr) ({						\
	int __pu_err = -EFAULT;						\
	__typeof__(*(ptr)) __pu_val = (x);				\
	if (access_ok(ptr, sizeof(*(ptr)))) {				\
		switch (sizeof(*(ptr))) {				\
		case 1: __pu_err = __put_user_8((u8)__pu_val, ptr); break;  \
		case 2: __pu_err = __put_user_16((u16)__pu_val, ptr); break;\
		case 4: __pu_err = __put_user_32((u32)__pu_val, ptr); break;\
		case 8: __pu_err = __put_user_64((u64)__pu_val, ptr); break;\
		default: __get_user_bad();				\
		}							\
	}								\
	__pu_err;							\
})

/* arch/x86/lib/usercopy_64.c: "rep movsb" with an __ex_table entry. */
unsigned long raw_copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long raw_copy_to_user(void __user *to, const void *from, unsigned long n);

#endif /* _ASM_X86_UACCESS_H */
