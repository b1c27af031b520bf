// SPDX-License-Identifier: GPL-2.0
/*
 * A small vsnprintf: %d %i %u %x %X %o %c %s %p %%, the length modifiers
 * h, hh, l, ll, z, and the flags '-', '0', a field width and, for %s, a
 * precision.  %p prints 0x followed by 16 hex digits.
 */
#include <linux/kernel.h>
#include <linux/export.h>

struct printf_spec {
	unsigned int	base;
	int		width;
	int		precision;
	bool		left;
	bool		zero;
	bool		is_signed;
	bool		upper;
};

struct outbuf {
	char	*buf;
	size_t	size;
	size_t	pos;	/* what would have been written */
};

static void put_char(struct outbuf *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_padding(struct outbuf *o, char c, int n)
{
	while (n-- > 0)
		put_char(o, c);
}

static void put_number(struct outbuf *o, unsigned long long num,
		       const struct printf_spec *spec)
{
	const char *digits = spec->upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int len = 0, width = spec->width;
	bool neg = false;

	if (spec->is_signed && (long long)num < 0) {
		neg = true;
		num = -(long long)num;
	}
	do {
		tmp[len++] = digits[num % spec->base];
		num /= spec->base;
	} while (num);

	width -= len + neg;
	if (!spec->left && !spec->zero)
		put_padding(o, ' ', width);
	if (neg)
		put_char(o, '-');
	if (!spec->left && spec->zero)
		put_padding(o, '0', width);
	while (len)
		put_char(o, tmp[--len]);
	if (spec->left)
		put_padding(o, ' ', width);
}

static void put_string(struct outbuf *o, const char *s,
		       const struct printf_spec *spec)
{
	int len, i;

	if (!s)
		s = "(null)";
	len = strnlen(s, spec->precision < 0 ? INT_MAX : spec->precision);
	if (!spec->left)
		put_padding(o, ' ', spec->width - len);
	for (i = 0; i < len; i++)
		put_char(o, s[i]);
	if (spec->left)
		put_padding(o, ' ', spec->width - len);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	struct outbuf o = { .buf = buf, .size = size, .pos = 0 };

	for (; *fmt; fmt++) {
		struct printf_spec spec = { .base = 10, .precision = -1 };
		int qualifier = 0;	/* 'h', 'H' (hh), 'l', 'L' (ll), 'z' */
		unsigned long long num;

		if (*fmt != '%') {
			put_char(&o, *fmt);
			continue;
		}

		/* flags */
		for (;;) {
			fmt++;
			if (*fmt == '-')
				spec.left = true;
			else if (*fmt == '0')
				spec.zero = true;
			else
				break;
		}
		/* width */
		if (*fmt == '*') {
			spec.width = va_arg(args, int);
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				spec.width = spec.width * 10 + (*fmt++ - '0');
		}
		/* precision */
		if (*fmt == '.') {
			fmt++;
			spec.precision = 0;
			if (*fmt == '*') {
				spec.precision = va_arg(args, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					spec.precision = spec.precision * 10 + (*fmt++ - '0');
			}
		}
		/* length */
		if (*fmt == 'h') {
			qualifier = 'h';
			if (*++fmt == 'h') {
				qualifier = 'H';
				fmt++;
			}
		} else if (*fmt == 'l') {
			qualifier = 'l';
			if (*++fmt == 'l') {
				qualifier = 'L';
				fmt++;
			}
		} else if (*fmt == 'z') {
			qualifier = 'z';
			fmt++;
		}

		switch (*fmt) {
		case 'c':
			if (!spec.left)
				put_padding(&o, ' ', spec.width - 1);
			put_char(&o, (char)va_arg(args, int));
			if (spec.left)
				put_padding(&o, ' ', spec.width - 1);
			continue;
		case 's':
			put_string(&o, va_arg(args, const char *), &spec);
			continue;
		case 'p':
			put_char(&o, '0');
			put_char(&o, 'x');
			spec.base = 16;
			spec.width = 16;
			spec.zero = true;
			put_number(&o, (unsigned long)va_arg(args, void *), &spec);
			continue;
		case '%':
			put_char(&o, '%');
			continue;
		case 'd':
		case 'i':
			spec.is_signed = true;
			break;
		case 'u':
			break;
		case 'X':
			spec.upper = true;
			/* fall through */
		case 'x':
			spec.base = 16;
			break;
		case 'o':
			spec.base = 8;
			break;
		case '\0':
			fmt--;
			continue;
		default:
			put_char(&o, '%');
			put_char(&o, *fmt);
			continue;
		}

		switch (qualifier) {
		case 'L':
			num = va_arg(args, unsigned long long);
			break;
		case 'l':
		case 'z':
			num = va_arg(args, unsigned long);
			if (spec.is_signed)
				num = (long)num;
			break;
		default:
			num = va_arg(args, unsigned int);
			if (spec.is_signed)
				num = (int)num;
			if (qualifier == 'h')
				num = spec.is_signed ? (short)num : (unsigned short)num;
			else if (qualifier == 'H')
				num = spec.is_signed ? (signed char)num : (unsigned char)num;
			break;
		}
		put_number(&o, num, &spec);
	}

	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return o.pos;
}
EXPORT_SYMBOL(vsnprintf);

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int i;

	va_start(args, fmt);
	i = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return i;
}
EXPORT_SYMBOL(snprintf);

/* Like vsnprintf but returns the number of characters actually stored. */
int vscnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	int i = vsnprintf(buf, size, fmt, args);

	if ((size_t)i < size)
		return i;
	return size ? size - 1 : 0;
}
EXPORT_SYMBOL(vscnprintf);

int scnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int i;

	va_start(args, fmt);
	i = vscnprintf(buf, size, fmt, args);
	va_end(args);
	return i;
}
EXPORT_SYMBOL(scnprintf);
