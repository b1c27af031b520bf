// SPDX-License-Identifier: GPL-2.0
/*
 * Test livepatch for the guest package: /proc/cmdline reads a fixed line
 * while the patch is enabled. Written for kpatch-build's tests.
 */
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

/* Replaces cmdline_proc_show (fs/proc/cmdline.c). */
static int guest_lp_cmdline_show(struct seq_file *m, void *v)
{
	seq_puts(m, "guest livepatch test: cmdline replaced\n");
	return 0;
}

static struct klp_func guest_lp_funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = guest_lp_cmdline_show,
	},
	{}
};

/* A NULL name means vmlinux. */
static struct klp_object guest_lp_objs[] = {
	{ .funcs = guest_lp_funcs },
	{}
};

static struct klp_patch guest_lp_patch = {
	.mod = THIS_MODULE,
	.objs = guest_lp_objs,
};

static int __init guest_lp_init(void)
{
	return klp_enable_patch(&guest_lp_patch);
}

static void __exit guest_lp_exit(void)
{
}

module_init(guest_lp_init);
module_exit(guest_lp_exit);
MODULE_DESCRIPTION("kpatch-build guest test: replace /proc/cmdline");
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
