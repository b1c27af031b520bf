/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_PROC_FS_H
#define _LINUX_PROC_FS_H

#include <linux/types.h>
#include <linux/seq_file.h>

/*
 * "proc" entries: named text producers (fs/proc/generic.c).  The
 * built-in ones (meminfo, cmdline, version, vmstat, stat) are also
 * reachable by their own system calls; any entry, including those a
 * module registers, is read by name with sys_proc_read.
 */
typedef int (*proc_show_t)(struct seq_file *m, void *v);

int proc_create_single(const char *name, proc_show_t show);
int remove_proc_entry(const char *name);

/* Render show() into a kernel buffer and copy it to the user buffer. */
long proc_read_to_user(proc_show_t show, char __user *ubuf, unsigned long len);

void proc_root_init(void);

/* fs/proc/{meminfo,cmdline,version,stat}.c, mm/vmstat.c */
int meminfo_proc_show(struct seq_file *m, void *v);
int cmdline_proc_show(struct seq_file *m, void *v);
int version_proc_show(struct seq_file *m, void *v);
int vmstat_show(struct seq_file *m, void *v);
int stat_proc_show(struct seq_file *m, void *v);

#define PROC_BUF_SIZE	1024

#endif
