// SPDX-License-Identifier: GPL-2.0
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>

extern char saved_command_line[];

int cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_putc(m, '\n');
	return 0;
}

long sys_cmdline(char __user *buf, unsigned long len)
{
	return proc_read_to_user(cmdline_proc_show, buf, len);
}
