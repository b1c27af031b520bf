#include "kernel.h"

struct point { int x, y; };

int manhattan(const struct point *a, const struct point *b)
{
	int dx = a->x - b->x;
	int dy = a->y - b->y;

	return (dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy);
}

int origin_distance(const struct point *p)
{
	struct point o = { 0, 0 };

	return manhattan(p, &o);
}
