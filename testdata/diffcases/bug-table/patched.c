#include "kernel.h"

struct queue { int head; int tail; int size; };

int queue_push(struct queue *q)
{
	if (WARN_ON(q->tail - q->head >= q->size))
		return -28;
	q->tail += 2;
	return 0;
}

int queue_pop(struct queue *q)
{
	BUG_ON(q->head > q->tail);
	if (q->head == q->tail)
		return -11;
	return q->head++;
}
