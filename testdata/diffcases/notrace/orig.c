#include "kernel.h"

int nmi_count;

noinline notrace int nmi_fast_path(int reason)
{
	nmi_count++;
	return reason & 1;
}

int nmi_slow_path(int reason)
{
	return nmi_fast_path(reason) + 1;
}
