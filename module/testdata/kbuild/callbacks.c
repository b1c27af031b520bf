// SPDX-License-Identifier: GPL-2.0
/*
 * Test input for kpatch-macros.h, written for this project: the four
 * callbacks written as kpatch's patch author guide shows them, with
 * patch_object.
 */
#include <linux/module.h>
#include "kpatch-macros.h"

static int kpg_enabled;

static int kpg_pre_patch(patch_object *obj)
{
	return obj->name && !strcmp(obj->name, "kpg-refused") ? -EINVAL : 0;
}
KPATCH_PRE_PATCH_CALLBACK(kpg_pre_patch);

static void kpg_post_patch(patch_object *obj)
{
	WRITE_ONCE(kpg_enabled, 1);
}
KPATCH_POST_PATCH_CALLBACK(kpg_post_patch);

static void kpg_pre_unpatch(patch_object *obj)
{
	WRITE_ONCE(kpg_enabled, 0);
}
KPATCH_PRE_UNPATCH_CALLBACK(kpg_pre_unpatch);

static void kpg_post_unpatch(patch_object *obj)
{
	KPATCH_PRINTK("kpatchgo: %s unpatched\n", obj->name ? obj->name : "vmlinux");
}
KPATCH_POST_UNPATCH_CALLBACK(kpg_post_unpatch);

int kpg_callbacks_enabled(void)
{
	return READ_ONCE(kpg_enabled);
}
