#include "kernel.h"

int scale_table[64];

static noinline int scale_entries(int *tbl, int n, int factor)
{
	int i, sum = 0;

	for (i = 0; i < n; i++) {
		tbl[i] *= factor;
		sum += tbl[i] + 1;
	}
	return sum;
}

int scale_small(void)
{
	return scale_entries(scale_table, 16, 3);
}

int scale_large(void)
{
	return scale_entries(scale_table, 64, 3);
}
