#include "kernel.h"

extern int pool_capacity;
int pool_reserve(int n);

int grab_buffers(int n)
{
	int ret;

	if (n > READ_ONCE(pool_capacity) / 2)
		n = READ_ONCE(pool_capacity) / 2;
	ret = pool_reserve(n);
	if (ret)
		pr_err("grab_buffers: %d failed\n", n);
	return ret;
}
