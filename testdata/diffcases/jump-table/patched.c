#include "kernel.h"

DEFINE_STATIC_KEY_FALSE(tracing_enabled);
DEFINE_STATIC_KEY_TRUE(fast_path_enabled);

void trace_hit(int v);

int do_lookup(int key)
{
	if (static_branch_unlikely(&tracing_enabled))
		trace_hit(key);
	return key * 9;
}

int do_insert(int key)
{
	if (static_branch_likely(&fast_path_enabled))
		return key + 1;
	return key - 1;
}
