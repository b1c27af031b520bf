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
	if (code < 0)
		return kcase_log_event(3, kcase_internal_count(-code));
	return kcase_log_event(1, code);
}
