#include "kernel.h"

struct stats { int count; int sum; int max; };

int record_sample(struct stats *st, int v)
{
	st->count++;
	st->sum += v;
	if (v > st->max)
		st->max = v;
	return st->sum;
}
