#include "kernel.h"

int first_unchanged(int a)
{
	return a ^ 0x55;
}

int second_changed(int a, int b)
{
	return a * b + 5;
}

int third_unchanged(int a)
{
	return a >> 2;
}
