#include "kernel.h"

int counter_limit = 16;

noinline int clamp_counter(int v)
{
	if (v > counter_limit)
		return counter_limit;
	return v;
}

int unchanged_neighbour(int a, int b)
{
	return a * 3 + b;
}
