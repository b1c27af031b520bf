#include "kernel.h"

extern int pool_capacity;
int pool_reserve(int n);

int grab_buffers(int n)
{
	int ret = pool_reserve(n);

	if (ret)
		pr_err("grab_buffers: %d failed\n", n);
	return ret;
}
