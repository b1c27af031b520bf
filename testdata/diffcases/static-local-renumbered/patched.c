#include "kernel.h"

noinline int first_user(int x)
{
	static int calls;

	calls += x;
	return calls;
}

noinline int second_user(int x)
{
	static int calls;

	calls ^= x;
	return calls;
}

noinline int third_user(int x)
{
	static int calls;
	static int misses;

	if (x < 0)
		misses++;
	calls -= x;
	return calls + misses;
}
