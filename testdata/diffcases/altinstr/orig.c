#include "kernel.h"

int shared_flag;
int shared_value;

void publish_value(int v)
{
	shared_value = v;
	mb();
	shared_flag = 1;
}

int consume_value(void)
{
	int v;

	while (!READ_ONCE(shared_flag))
		;
	mb();
	v = shared_value;
	return v;
}
