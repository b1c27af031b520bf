#include "kernel.h"

noinline int kcase_log_event(int level, int code)
{
	return level * 1000 + code;
}
EXPORT_SYMBOL(kcase_log_event);

noinline int kcase_internal_count(int code)
{
	return code & 0xff;
}

int handle_event(int code)
{
	return kcase_log_event(1, code);
}
