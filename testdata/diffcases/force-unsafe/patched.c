#include "kernel.h"
#include "kpatch-macros.h"

int worker_state;

noinline int worker_loop(int budget)
{
	int done = 0;

	while (budget-- > 0 && READ_ONCE(worker_state) == 1)
		done++;
	return done;
}
KPATCH_FORCE_UNSAFE(worker_loop);
