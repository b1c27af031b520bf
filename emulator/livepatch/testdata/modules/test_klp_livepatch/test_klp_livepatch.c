// SPDX-License-Identifier: GPL-2.0
/*
 * The basic live patch of the selftests: cmdline_proc_show() (the text of
 * the cmdline system call) gets a line saying it was live patched.
 * LP_MODEL, LP_REPLACE and LP_TAG may be defined by the test build.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

#ifndef LP_MODEL
#define LP_MODEL KLP_MODEL_HYBRID
#endif
#ifndef LP_REPLACE
#define LP_REPLACE false
#endif
#ifndef LP_TAG
#define LP_TAG KBUILD_MODNAME
#endif

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: this has been live patched\n", LP_TAG);
	return 0;
}

static struct klp_func funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = livepatch_cmdline_proc_show,
	}, { }
};

static struct klp_object objs[] = {
	{
		/* name being NULL means vmlinux */
		.funcs = funcs,
	}, { }
};

static struct klp_patch patch = {
	.objs = objs,
	.replace = LP_REPLACE,
	.model = LP_MODEL,
};

static int test_klp_livepatch_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_livepatch_exit(void)
{
}

module_init(test_klp_livepatch_init);
module_exit(test_klp_livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
