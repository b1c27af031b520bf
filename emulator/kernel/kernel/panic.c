// SPDX-License-Identifier: GPL-2.0
/*
 * panic() and the printing half of WARN(): the report itself (file, line,
 * registers, stack) is printed by the machine when it handles the ud2.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <asm/hypercall.h>

#define CUT_HERE	"------------[ cut here ]------------\n"

void __warn_printk(const char *fmt, ...)
{
	va_list args;

	printk(KERN_WARNING CUT_HERE);
	va_start(args, fmt);
	vprintk(fmt, args);
	va_end(args);
}
EXPORT_SYMBOL(__warn_printk);

void panic(const char *fmt, ...)
{
	static char buf[256];
	va_list args;

	va_start(args, fmt);
	vscnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	printk(KERN_EMERG "Kernel panic - not syncing: %s\n", buf);
	hypercall1(HC_PANIC, (unsigned long)buf);
	for (;;)
		;
}
EXPORT_SYMBOL(panic);
