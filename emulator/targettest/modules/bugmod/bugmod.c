// SPDX-License-Identifier: GPL-2.0
/*
 * A test module: bugmod_trigger(n) hits BUG_ON(n == 42) or WARN_ON(n == 7).
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/bug.h>

noinline int bugmod_trigger(long n)
{
	WARN_ON(n == 7);
	BUG_ON(n == 42);
	return n + 1;
}
EXPORT_SYMBOL(bugmod_trigger);

static int __init bugmod_init(void)
{
	pr_info("bugmod: loaded\n");
	return 0;
}

static void __exit bugmod_exit(void)
{
	pr_info("bugmod: unloaded\n");
}

module_init(bugmod_init);
module_exit(bugmod_exit);
MODULE_LICENSE("GPL");
