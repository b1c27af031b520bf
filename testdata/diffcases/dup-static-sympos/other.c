#include "kernel.h"

/* First file of the parent: its own static helper (sympos 1). */
int other_scale = 3;

static noinline int helper(int v)
{
	return v * READ_ONCE(other_scale) + 7;
}

int other_entry(int v)
{
	return helper(v) + helper(v + 1);
}
