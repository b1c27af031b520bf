/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_CPU_H
#define _LINUX_CPU_H

#include <linux/compiler.h>

/* kernel/idle.c: the idle loop; every CPU ends up here. */
void __noreturn cpu_startup_entry(void);

/* arch/x86/kernel/smpboot.c */
asmlinkage void __noreturn start_secondary(void);
/* arch/x86/kernel/setup_percpu.c */
void setup_per_cpu_areas(void);

#endif
