/* The string functions gcc may call from freestanding code, for the
 * emulator build only (the host uses its C library). */
typedef unsigned long size_t;

void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;
	asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

void *memmove(void *d, const void *s, size_t n)
{
	void *r = d;
	if ((unsigned long)d - (unsigned long)s >= n) {
		asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	} else {
		d = (char *)d + n - 1;
		s = (const char *)s + n - 1;
		asm volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory", "cc");
	}
	return r;
}

void *memset(void *d, int c, size_t n)
{
	void *r = d;
	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
