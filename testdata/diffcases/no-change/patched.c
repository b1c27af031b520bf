#include "kernel.h"

struct point { int x, y; };

/* Manhattan distance: the patch only adds comments and renames locals. */
int manhattan(const struct point *a, const struct point *b)
{
	int delta_x = a->x - b->x;
	int delta_y = a->y - b->y;

	return (delta_x < 0 ? -delta_x : delta_x) +
	       (delta_y < 0 ? -delta_y : delta_y);
}

int origin_distance(const struct point *p)
{
	struct point origin = { 0, 0 };	/* the origin */

	return manhattan(p, &origin);
}
