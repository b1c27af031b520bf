// SPDX-License-Identifier: GPL-2.0
/*
 * A target module for module function patching: /proc/test_klp_mod_target
 * says where its text comes from; test_klp_mod_patch changes it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static noinline int test_klp_mod_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: original output\n", KBUILD_MODNAME);
	return 0;
}

static int test_klp_mod_target_init(void)
{
	pr_info("%s\n", __func__);
	return proc_create_single("test_klp_mod_target", test_klp_mod_target_show);
}

static void test_klp_mod_target_exit(void)
{
	pr_info("%s\n", __func__);
	remove_proc_entry("test_klp_mod_target");
}

module_init(test_klp_mod_target_init);
module_exit(test_klp_mod_target_exit);
MODULE_LICENSE("GPL");
