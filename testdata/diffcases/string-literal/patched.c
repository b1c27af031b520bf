#include "kernel.h"

int report_usage(int used, int total)
{
	pr_info("usage: %d of %d blocks\n", used, total);
	return total - used;
}

int report_free(int free)
{
	pr_info("free: %d\n", free);
	return free;
}
