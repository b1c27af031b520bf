#include "kernel.h"

/* A kernel built with CALL_PADDING, IBT and return thunks (Debian's 6.12):
 * 16 NOPs before every function, ENDBR64 at its entry, returns through
 * __x86_return_thunk, indirect calls through __x86_indirect_thunk_*. */

typedef int (*show_fn)(int);

static noinline int show_plain(int v)
{
	return v + 2;
}

static noinline int show_twice(int v)
{
	return printk(KERN_INFO "show %d\n", v) + v;
}

static noinline int show_quiet(int v)
{
	return v & 1;
}

show_fn current_show = show_plain;

int run_show(int v)
{
	return current_show(v) + 4;
}

int pick_show(int v)
{
	current_show = v > 1 ? show_quiet : v ? show_twice : show_plain;
	return 0;
}

int unchanged_helper(int v)
{
	return v * 7;
}
