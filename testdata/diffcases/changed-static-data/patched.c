#include "kernel.h"

static int threshold = 20;

void set_threshold(int t)
{
	threshold = t;
}

int over_threshold(int v)
{
	return v >= threshold;
}
