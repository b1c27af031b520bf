/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_DELAY_H
#define _LINUX_DELAY_H

/* kernel/sched.c: sleep at least ms milliseconds of virtual time. */
void msleep(unsigned int ms);
/* kernel/sched.c: msleep() that a signal ends early; returns the ms left. */
unsigned long msleep_interruptible(unsigned int ms);

#endif
