#include "kernel.h"

/*
 * A growable byte buffer.
 *
 * This comment was added by the patch: it moves every line below it
 * down, so the __LINE__ values used by might_sleep() and WARN_ON()
 * change while the generated code does not.
 */
struct buf { int len; int cap; char *data; };

int buf_append(struct buf *b, char c)
{
	might_sleep();
	if (WARN_ON(b->len >= b->cap))
		return -28;
	b->data[b->len++] = c;
	return 0;
}

int buf_reset(struct buf *b)
{
	might_sleep();
	WARN_ON(!b->data);
	b->len = 0;
	return 0;
}
