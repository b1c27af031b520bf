// SPDX-License-Identifier: GPL-2.0
#include <linux/kernel.h>
#include <linux/utsname.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>

int version_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, linux_proc_banner, UTS_SYSNAME, UTS_RELEASE, UTS_VERSION);
	return 0;
}

long sys_version(char __user *buf, unsigned long len)
{
	return proc_read_to_user(version_proc_show, buf, len);
}
