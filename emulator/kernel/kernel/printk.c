// SPDX-License-Identifier: GPL-2.0
/*
 * printk: format into a line buffer and write it to the machine's console
 * with one HC_CONSOLE_WRITE, so lines from different CPUs never mix.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/spinlock.h>
#include <asm/hypercall.h>

#define LOG_LINE_MAX	512

static DEFINE_SPINLOCK(logbuf_lock);
static char printk_buf[LOG_LINE_MAX];

/* The console: every byte the kernel ever printed goes through here. */
static void console_write(const char *s, size_t len)
{
	hypercall2(HC_CONSOLE_WRITE, (unsigned long)s, len);
}

/* Skip a KERN_<LEVEL> prefix ("\001" + one character). */
static const char *printk_skip_level(const char *fmt)
{
	while (fmt[0] == KERN_SOH[0] && fmt[1])
		fmt += 2;
	return fmt;
}

asmlinkage int vprintk(const char *fmt, va_list args)
{
	int len;

	spin_lock(&logbuf_lock);
	len = vscnprintf(printk_buf, sizeof(printk_buf),
			 printk_skip_level(fmt), args);
	console_write(printk_buf, len);
	spin_unlock(&logbuf_lock);
	return len;
}
EXPORT_SYMBOL(vprintk);

asmlinkage int printk(const char *fmt, ...)
{
	va_list args;
	int r;

	va_start(args, fmt);
	r = vprintk(fmt, args);
	va_end(args);
	return r;
}
EXPORT_SYMBOL(printk);
