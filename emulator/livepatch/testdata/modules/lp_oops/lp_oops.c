// SPDX-License-Identifier: GPL-2.0
/* A live patch whose new cmdline_proc_show() faults on a NULL pointer. */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

static int *volatile lp_oops_ptr;

static noinline int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "about to fault: %d\n", *lp_oops_ptr);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, }, { }
};

static struct klp_patch patch = {
	.objs = objs,
	.model = KLP_MODEL_IMMEDIATE,
};

static int lp_oops_init(void)
{
	return klp_enable_patch(&patch);
}

static void lp_oops_exit(void)
{
}

module_init(lp_oops_init);
module_exit(lp_oops_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
