// SPDX-License-Identifier: GPL-2.0
/*
 * Invalid live patches: the test build defines LP_OLD_NAME (and
 * LP_SYMPOS) to a function that cannot be patched.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/livepatch.h>

#ifndef LP_OLD_NAME
#define LP_OLD_NAME "no_such_function"
#endif
#ifndef LP_SYMPOS
#define LP_SYMPOS 0
#endif

static noinline void livepatch_replacement(void)
{
	pr_info("%s: must never run\n", KBUILD_MODNAME);
}

static struct klp_func funcs[] = {
	{ .old_name = "version_proc_show", .new_func = livepatch_replacement, },
	{ .old_name = LP_OLD_NAME, .new_func = livepatch_replacement, .old_sympos = LP_SYMPOS, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, }, { }
};

static struct klp_patch patch = {
	.objs = objs,
};

static int lp_bad_init(void)
{
	return klp_enable_patch(&patch);
}

static void lp_bad_exit(void)
{
}

module_init(lp_bad_init);
module_exit(lp_bad_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
