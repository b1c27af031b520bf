// SPDX-License-Identifier: GPL-2.0
/*
 * seq_file output helpers: show functions print into a fixed buffer; on
 * overflow the buffer is marked full (count == size) and later output is
 * dropped.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/seq_file.h>

static void seq_set_overflow(struct seq_file *m)
{
	m->count = m->size;
}

void seq_vprintf(struct seq_file *m, const char *f, va_list args)
{
	int len;

	if (m->count < m->size) {
		len = vsnprintf(m->buf + m->count, m->size - m->count, f, args);
		if (m->count + len < m->size) {
			m->count += len;
			return;
		}
	}
	seq_set_overflow(m);
}
EXPORT_SYMBOL(seq_vprintf);

void seq_printf(struct seq_file *m, const char *f, ...)
{
	va_list args;

	va_start(args, f);
	seq_vprintf(m, f, args);
	va_end(args);
}
EXPORT_SYMBOL(seq_printf);

void seq_puts(struct seq_file *m, const char *s)
{
	size_t len = strlen(s);

	if (m->count + len >= m->size) {
		seq_set_overflow(m);
		return;
	}
	memcpy(m->buf + m->count, s, len);
	m->count += len;
}
EXPORT_SYMBOL(seq_puts);

void seq_putc(struct seq_file *m, char c)
{
	if (m->count >= m->size)
		return;
	m->buf[m->count++] = c;
}
EXPORT_SYMBOL(seq_putc);

/*
 * Print delimiter, then num right-aligned in width columns, as the
 * kernel's seq_put_decimal_ull_width() does for /proc/meminfo.
 */
void seq_put_decimal_ull_width(struct seq_file *m, const char *delimiter,
			       unsigned long long num, unsigned int width)
{
	char digits[24];
	int len = 0;

	if (delimiter && delimiter[0])
		seq_puts(m, delimiter);
	do {
		digits[len++] = '0' + num % 10;
		num /= 10;
	} while (num);
	while (width-- > (unsigned int)len)
		seq_putc(m, ' ');
	while (len)
		seq_putc(m, digits[--len]);
}
EXPORT_SYMBOL(seq_put_decimal_ull_width);
