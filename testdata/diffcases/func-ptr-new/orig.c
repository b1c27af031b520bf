#include "kernel.h"

typedef int (*event_handler_t)(int event);

event_handler_t current_handler;

static noinline int default_handler(int event)
{
	return event + 1;
}

void install_handler(int mode)
{
	current_handler = default_handler;
}

int dispatch_event(int event)
{
	return current_handler(event);
}
