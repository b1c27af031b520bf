/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_START_KERNEL_H
#define _LINUX_START_KERNEL_H

#include <linux/compiler.h>

#define COMMAND_LINE_SIZE	256

/* The machine may write a NUL-terminated command line here before boot. */
extern char boot_command_line[COMMAND_LINE_SIZE];
/* What the kernel booted with (boot_command_line or the default). */
extern char saved_command_line[COMMAND_LINE_SIZE];

asmlinkage void __noreturn start_kernel(void);

/* kernel/sleeper.c */
void long_sleeper_init(void);

#endif
