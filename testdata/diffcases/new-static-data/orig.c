#include "kernel.h"

int total_bytes;

void account_bytes(int n)
{
	total_bytes += n;
}

int read_total(void)
{
	return total_bytes;
}
