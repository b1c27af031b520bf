/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_DELAY_H
#define _LINUX_DELAY_H

/* kernel/sched.c: sleep at least ms milliseconds of virtual time. */
void msleep(unsigned int ms);

#endif
