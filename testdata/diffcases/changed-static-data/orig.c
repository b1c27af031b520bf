#include "kernel.h"

static int threshold = 10;

void set_threshold(int t)
{
	threshold = t;
}

int over_threshold(int v)
{
	return v > threshold;
}
