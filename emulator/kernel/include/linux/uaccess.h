/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_UACCESS_H
#define _LINUX_UACCESS_H

#include <linux/types.h>
#include <linux/string.h>
#include <asm/uaccess.h>

/* Out-of-line, exported (arch/x86/lib/usercopy_64.c). */
unsigned long _copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long _copy_to_user(void __user *to, const void *from, unsigned long n);

/*
 * Copy a NUL-terminated string of at most count bytes (NUL included).
 * Returns its length without the NUL, count if no NUL was found within
 * count bytes, or -EFAULT.
 */
long strncpy_from_user(char *dst, const char __user *src, long count);

/*
 * copy_from_user()/copy_to_user() return the number of bytes NOT copied
 * (0 on success).  copy_from_user() zeroes the part of the destination it
 * could not fill.
 */
static __always_inline unsigned long __must_check
copy_from_user(void *to, const void __user *from, unsigned long n)
{
	return _copy_from_user(to, from, n);
}

static __always_inline unsigned long __must_check
copy_to_user(void __user *to, const void *from, unsigned long n)
{
	return _copy_to_user(to, from, n);
}

#endif /* _LINUX_UACCESS_H */
