#include "kernel.h"

int limit_a = 10;
int limit_b = 20;

noinline int check_a(int v)
{
	return v > limit_a;
}

noinline int check_b(int v)
{
	return v > limit_b;
}
