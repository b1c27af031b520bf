#include "kernel.h"

struct stats { int count; int sum; int max; };

void report_bad_sample(struct stats *st, int v) __cold;

int record_sample(struct stats *st, int v)
{
	if (unlikely(v < 0)) {
		report_bad_sample(st, v);
		st->count = 0;
		st->sum = -1;
		return -22;
	}
	st->count++;
	st->sum += v;
	if (v > st->max)
		st->max = v;
	return st->sum;
}
