// SPDX-License-Identifier: GPL-2.0
/*
 * Test input for module.BuildKbuild, written for this project: a stand-in
 * for the object of Linux 6.1's fs/proc/cmdline.c, whose show function has
 * the same name and file as the one in the Debian kernel's vmlinux, so the
 * diff engine finds it there.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", saved_command_line);
	return 0;
}

static int __init proc_cmdline_init(void)
{
	proc_create_single("kpg-test-cmdline", 0, NULL, cmdline_proc_show);
	return 0;
}
module_init(proc_cmdline_init);
