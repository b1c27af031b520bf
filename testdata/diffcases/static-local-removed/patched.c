#include "kernel.h"

noinline int rate_check(int v)
{
	return v;
}
