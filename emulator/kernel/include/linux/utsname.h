/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_UTSNAME_H
#define _LINUX_UTSNAME_H

/*
 * The kernel release ("make kernelrelease" prints UTS_RELEASE).  The data
 * structure layouts follow Linux 6.1, hence the number.  No build date or
 * host: the banner is the same on every machine.
 */
#define UTS_SYSNAME	"Linux"
#define UTS_RELEASE	"6.1.0-kpatchgo"
#define UTS_VERSION	"#1 SMP"
#define UTS_MACHINE	"x86_64"

/* init/version.c */
extern const char linux_banner[];
extern const char linux_proc_banner[];

#endif
