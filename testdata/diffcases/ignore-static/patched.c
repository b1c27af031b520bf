#include "kernel.h"
#include "kpatch-macros.h"

noinline int rate_check(int v)
{
	return v;
}
KPATCH_IGNORE_STATIC("last");
