// SPDX-License-Identifier: GPL-2.0
/* A live patch of a module's function: test_klp_mod_target's proc entry. */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

static int livepatch_mod_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: this has been live patched\n", KBUILD_MODNAME);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "test_klp_mod_target_show", .new_func = livepatch_mod_target_show, },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "test_klp_mod_target", .funcs = funcs, },
	{ }
};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_mod_patch_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_mod_patch_exit(void)
{
}

module_init(test_klp_mod_patch_init);
module_exit(test_klp_mod_patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
