#include "kernel.h"

struct request { int len; int flags; int status; };

int process_request(struct request *rq)
{
	if (rq->len <= 0)
		return -22;
	rq->status = rq->len * 2;
	return 0;
}
