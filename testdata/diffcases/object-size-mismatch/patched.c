#include "kernel.h"

int history[16];

void push_history(int idx, int v)
{
	history[idx & 15] = v;
}
