#include "kernel.h"

struct request { int len; int flags; int status; };

static noinline int validate_request(struct request *rq)
{
	if (rq->len <= 0 || rq->len > 4096)
		return -22;
	if (rq->flags & ~0xff)
		return -95;
	return 0;
}

int process_request(struct request *rq)
{
	int ret = validate_request(rq);

	if (ret)
		return ret;
	rq->status = rq->len * 2;
	return 0;
}
