#include "kernel.h"

noinline int rate_check(int v)
{
	static int last;
	int ret = v - last;

	last = v;
	return ret;
}
