// SPDX-License-Identifier: GPL-2.0
/*
 * A test module the loader must refuse: it calls sched_init(), which
 * vmlinux defines but does not export.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>

static int __init badsym_init(void)
{
	sched_init();
	return 0;
}

module_init(badsym_init);
MODULE_LICENSE("GPL");
