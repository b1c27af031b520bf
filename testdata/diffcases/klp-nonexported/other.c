#include "kernel.h"

/* Another file of the same parent object: global but not exported. */
int pool_capacity = 128;

int pool_reserve(int n)
{
	if (n > pool_capacity)
		return -12;
	pool_capacity -= n;
	return 0;
}
