#include "kernel.h"

/* Second file of the parent: a different static helper (sympos 2). */
int local_bias = 5;

static noinline int helper(int v)
{
	return (v ^ READ_ONCE(local_bias)) - 1;
}

int compute_entry(int v)
{
	return helper(v) * 2;
}

int compute_other(int v)
{
	return helper(v + 2);
}
