// SPDX-License-Identifier: GPL-2.0
/* The target module of the callback tests: a proc entry a patch changes. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static noinline int callbacks_mod_show(struct seq_file *m, void *v)
{
	seq_puts(m, "test_klp_callbacks_mod: original\n");
	return 0;
}

static int test_klp_callbacks_mod_init(void)
{
	pr_info("%s\n", __func__);
	return proc_create_single("callbacks_mod", callbacks_mod_show);
}

static void test_klp_callbacks_mod_exit(void)
{
	remove_proc_entry("callbacks_mod");
	pr_info("%s\n", __func__);
}

module_init(test_klp_callbacks_mod_init);
module_exit(test_klp_callbacks_mod_exit);
MODULE_LICENSE("GPL");
