/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H

#include <linux/compiler.h>

/*
 * Code and data used only while booting (vmlinux) or while loading a
 * module.  The vmlinux linker script puts them between __init_begin and
 * __init_end; the target never frees them, but kpatch-build refuses to
 * patch them, exactly as for a real kernel.
 */
#define __init		__section(".init.text") __cold
#define __initdata	__section(".init.data")
#define __initconst	__section(".init.rodata")
#define __exit		__section(".exit.text") __cold
#define __exitdata	__section(".exit.data")

/*
 * Linux puts the scheduler's sleeping functions in .sched.text, which
 * also keeps them out of line.  Here they stay in ordinary text (so that
 * -ffunction-sections gives each its own section and a patch can replace
 * them) and are only kept out of line, so that every sleeping task has
 * them on its stack.
 */
#define __sched		noinline

#endif /* _LINUX_INIT_H */
