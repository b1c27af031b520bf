/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SEQ_FILE_H
#define _LINUX_SEQ_FILE_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/stdarg.h>

/*
 * A text buffer that show functions print into (fs/seq_file.c), as in
 * the kernel's /proc files.  When the buffer is full, count == size and
 * further output is dropped.
 */
struct seq_file {
	char	*buf;
	size_t	size;
	size_t	count;
};

void seq_vprintf(struct seq_file *m, const char *fmt, va_list args);
__printf(2, 3) void seq_printf(struct seq_file *m, const char *fmt, ...);
void seq_puts(struct seq_file *m, const char *s);
void seq_putc(struct seq_file *m, char c);
void seq_put_decimal_ull_width(struct seq_file *m, const char *delimiter,
			       unsigned long long num, unsigned int width);

static inline bool seq_has_overflowed(struct seq_file *m)
{
	return m->count == m->size;
}

#endif
