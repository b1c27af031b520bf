#include "kernel.h"

int worker_state;

noinline int worker_loop(int budget)
{
	int done = 0;

	while (budget-- > 0 && READ_ONCE(worker_state))
		done++;
	return done;
}
