// SPDX-License-Identifier: GPL-2.0
/*
 * User copies: one "rep movsb" listed in __ex_table.  If it faults, the
 * machine resumes at the fixup label with %rcx = bytes not copied.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/uaccess.h>

static __always_inline unsigned long copy_user_generic(void *to, const void *from,
						       unsigned long len)
{
	asm volatile("1:	rep movsb\n"
		     "2:\n"
		     _ASM_EXTABLE_UA(1b, 2b)
		     : "+c" (len), "+D" (to), "+S" (from)
		     : : "memory");
	return len;
}

unsigned long raw_copy_from_user(void *to, const void __user *from, unsigned long n)
{
	return copy_user_generic(to, (const void *)from, n);
}

unsigned long raw_copy_to_user(void __user *to, const void *from, unsigned long n)
{
	return copy_user_generic((void *)to, from, n);
}

unsigned long _copy_from_user(void *to, const void __user *from, unsigned long n)
{
	unsigned long res = n;

	if (likely(access_ok(from, n)))
		res = raw_copy_from_user(to, from, n);
	if (unlikely(res))
		memset(to + (n - res), 0, res);
	return res;
}
EXPORT_SYMBOL(_copy_from_user);

unsigned long _copy_to_user(void __user *to, const void *from, unsigned long n)
{
	if (likely(access_ok(to, n)))
		n = raw_copy_to_user(to, from, n);
	return n;
}
EXPORT_SYMBOL(_copy_to_user);

long strncpy_from_user(char *dst, const char __user *src, long count)
{
	long i;

	for (i = 0; i < count; i++) {
		char c;

		if (get_user(c, src + i))
			return -EFAULT;
		dst[i] = c;
		if (!c)
			return i;
	}
	return count;
}
EXPORT_SYMBOL(strncpy_from_user);
