// SPDX-License-Identifier: GPL-2.0
/*
 * Test input for kpatch-macros.h, written for this project: every macro of
 * the patch-author API once, compiled against the real kernel's headers.
 */
#include <linux/module.h>
#include <linux/seq_file.h>
#include "kpatch-macros.h"

static noinline int kpg_macros_show(struct seq_file *m, void *v)
{
	KPATCH_PRINTK("kpatchgo: show %p\n", v);
	seq_puts(m, "kpatchgo");
	return 0;
}
KPATCH_FORCE_UNSAFE(kpg_macros_show);

static noinline int kpg_macros_noisy(void)
{
	return __LINE__;
}
KPATCH_IGNORE_FUNCTION(kpg_macros_noisy);
KPATCH_IGNORE_SECTION(".text.kpg_macros_unused");

static int kpg_macros_pre_patch(struct klp_object *obj)
{
	return kpg_macros_noisy() < 0;
}
KPATCH_PRE_PATCH_CALLBACK(kpg_macros_pre_patch);

static void kpg_macros_post_unpatch(struct klp_object *obj)
{
}
KPATCH_POST_UNPATCH_CALLBACK(kpg_macros_post_unpatch);

static void kpg_macros_load(void)
{
}
KPATCH_LOAD_HOOK(kpg_macros_load);

static void kpg_macros_unload(void)
{
}
KPATCH_UNLOAD_HOOK(kpg_macros_unload);

static int kpg_macros_open(struct inode *inode, struct file *file)
{
	return single_open(file, kpg_macros_show, NULL);
}

const struct file_operations kpg_macros_fops = {
	.open = kpg_macros_open,
};
