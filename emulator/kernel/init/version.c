// SPDX-License-Identifier: GPL-2.0
/*
 * The version banner.  "strings vmlinux | grep 'Linux version'" finds the
 * release, as kpatch-build does on a real kernel.
 */
#include <linux/utsname.h>

const char linux_banner[] =
	"Linux version " UTS_RELEASE " (kpatchgo@target) (gcc) " UTS_VERSION "\n";

const char linux_proc_banner[] =
	"%s version %s (kpatchgo@target) (gcc) %s\n";
