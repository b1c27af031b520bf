#include "kernel.h"
#include "kruntime_const.h"

unsigned long USER_PTR_MAX;

/* access_ok as 6.12 writes it: the limit is a runtime constant. */
static inline int range_ok(unsigned long addr, unsigned long size)
{
	return addr + size <= runtime_const_ptr(USER_PTR_MAX);
}

noinline int check_name(unsigned long addr, unsigned long len)
{
	if (!range_ok(addr, len))
		return -14;
	return 0;
}

noinline int check_entry(unsigned long addr, unsigned long len)
{
	if (!range_ok(addr, len))
		return -14;
	return 1;
}
