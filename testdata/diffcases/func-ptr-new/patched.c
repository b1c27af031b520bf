#include "kernel.h"

typedef int (*event_handler_t)(int event);

event_handler_t current_handler;

static noinline int default_handler(int event)
{
	return event + 1;
}

static noinline int quiet_handler(int event)
{
	return event & 1;
}

void install_handler(int mode)
{
	if (mode)
		current_handler = quiet_handler;
	else
		current_handler = default_handler;
}

int dispatch_event(int event)
{
	return current_handler(event);
}
