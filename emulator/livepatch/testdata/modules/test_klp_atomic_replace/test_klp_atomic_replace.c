// SPDX-License-Identifier: GPL-2.0
/*
 * Linux's test_klp_atomic_replace: meminfo_proc_show() (the text of the
 * meminfo system call) is replaced by a line saying it was live patched.
 * Linux's module parameter replace (0 or 1) is LP_REPLACE here, defined
 * by the test build (false by default, as for "multiple livepatches").
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

#ifndef LP_REPLACE
#define LP_REPLACE false
#endif

static int livepatch_meminfo_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", KBUILD_MODNAME, "this has been live patched");
	return 0;
}

static struct klp_func funcs[] = {
	{
		.old_name = "meminfo_proc_show",
		.new_func = livepatch_meminfo_proc_show,
	}, {}
};

static struct klp_object objs[] = {
	{
		/* name being NULL means vmlinux */
		.funcs = funcs,
	}, {}
};

static struct klp_patch patch = {
	.objs = objs,
	.replace = LP_REPLACE,
};

static int test_klp_atomic_replace_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_atomic_replace_exit(void)
{
}

module_init(test_klp_atomic_replace_init);
module_exit(test_klp_atomic_replace_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
