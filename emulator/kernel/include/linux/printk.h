/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_PRINTK_H
#define _LINUX_PRINTK_H

#include <linux/stdarg.h>
#include <linux/compiler.h>

/*
 * Log levels: "\001" + digit, as in <linux/kern_levels.h>.  printk()
 * strips the level; nothing is filtered.
 */
#define KERN_SOH	"\001"
#define KERN_EMERG	KERN_SOH "0"
#define KERN_ALERT	KERN_SOH "1"
#define KERN_CRIT	KERN_SOH "2"
#define KERN_ERR	KERN_SOH "3"
#define KERN_WARNING	KERN_SOH "4"
#define KERN_NOTICE	KERN_SOH "5"
#define KERN_INFO	KERN_SOH "6"
#define KERN_DEBUG	KERN_SOH "7"
#define KERN_CONT	KERN_SOH "c"

/* kernel/printk.c: formats with vsnprintf(), writes to the console. */
asmlinkage __printf(1, 2) int printk(const char *fmt, ...);
asmlinkage int vprintk(const char *fmt, va_list args);

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

#define pr_emerg(fmt, ...)	printk(KERN_EMERG pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...)	printk(KERN_ERR pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)	printk(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...)	printk(KERN_NOTICE pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)	printk(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)
#define pr_cont(fmt, ...)	printk(KERN_CONT fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	do { } while (0)

/*
 * printk_once: the "already done" flag lives in .data.once, as with the
 * kernel's DO_ONCE_LITE (kpatch-build lets a patch include that section).
 */
#define printk_once(fmt, ...) ({					\
	static bool __section(".data.once") __print_once;		\
	bool __ret_print_once = !__print_once;				\
	if (unlikely(!__print_once)) {					\
		__print_once = true;					\
		printk(fmt, ##__VA_ARGS__);				\
	}								\
	unlikely(__ret_print_once);					\
})
#define pr_warn_once(fmt, ...)	printk_once(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info_once(fmt, ...)	printk_once(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)

#endif /* _LINUX_PRINTK_H */
