#include "kernel.h"

static noinline __used int compute_hash(const char *s, int len)
{
	int h = 5381, i;

	for (i = 0; i < len; i++)
		h = h * 33 + s[i];
	return h;
}

int hash_name(const char *s, int len)
{
	return compute_hash(s, len) & 0x3ff;
}
