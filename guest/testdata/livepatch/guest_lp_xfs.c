// SPDX-License-Identifier: GPL-2.0
/*
 * Test livepatch for the guest package that targets a module: while it
 * is enabled and xfs is loaded, /proc/fs/xfs/xqm reads a fixed line.
 * Written for kpatch-build's tests.
 */
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

/* Replaces xfs's static xqm_proc_show (fs/xfs/xfs_stats.c). */
static int guest_lp_xqm_show(struct seq_file *m, void *v)
{
	seq_puts(m, "guest livepatch test: xqm replaced\n");
	return 0;
}

static struct klp_func guest_lp_xfs_funcs[] = {
	{
		.old_name = "xqm_proc_show",
		.new_func = guest_lp_xqm_show,
	},
	{}
};

/* Patched when xfs is loaded, whether before or after this module. */
static struct klp_object guest_lp_xfs_objs[] = {
	{
		.name = "xfs",
		.funcs = guest_lp_xfs_funcs,
	},
	{}
};

static struct klp_patch guest_lp_xfs_patch = {
	.mod = THIS_MODULE,
	.objs = guest_lp_xfs_objs,
};

static int __init guest_lp_xfs_init(void)
{
	return klp_enable_patch(&guest_lp_xfs_patch);
}

static void __exit guest_lp_xfs_exit(void)
{
}

module_init(guest_lp_xfs_init);
module_exit(guest_lp_xfs_exit);
MODULE_DESCRIPTION("kpatch-build guest test: replace xfs's /proc/fs/xfs/xqm");
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
