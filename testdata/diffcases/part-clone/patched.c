#include "kernel.h"

struct item { int flags; int n; int vals[32]; };

void slow_log(int v);

static int summarize(struct item *it)
{
	int i, sum = 0;

	if (likely(!it->flags))
		return 0;
	for (i = 0; i < it->n; i++) {
		sum += it->vals[i] * (i + 5);
		if (sum > 100000)
			slow_log(sum);
		sum ^= it->vals[(i * 7) & 31];
	}
	slow_log(sum);
	return sum;
}

int summarize_a(struct item *x)
{
	return summarize(x) + 1;
}

int summarize_b(struct item *x)
{
	return summarize(x) * 2;
}
