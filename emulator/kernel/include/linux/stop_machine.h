/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_STOP_MACHINE_H
#define _LINUX_STOP_MACHINE_H

#include <linux/types.h>

typedef int (*cpu_stop_fn_t)(void *arg);

/*
 * kernel/stop_machine.c: run fn(data) on CPU 0 while every online CPU
 * spins in its stopper thread with nothing else running.  Returns what fn
 * returned, or -EBUSY if another stop_machine() is in progress.  If
 * pause_ns is not NULL it receives the pause: from the moment the first
 * CPU stopped to the moment the last one left, in ns of virtual time.
 */
int stop_machine_timed(cpu_stop_fn_t fn, void *data, u64 *pause_ns);

static inline int stop_machine(cpu_stop_fn_t fn, void *data)
{
	return stop_machine_timed(fn, data, NULL);
}

#endif
