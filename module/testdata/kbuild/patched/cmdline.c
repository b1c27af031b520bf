// SPDX-License-Identifier: GPL-2.0
/*
 * Test input for module.BuildKbuild, written for this project: the patched
 * version of ../orig/cmdline.c. It changes a string, adds a function and
 * uses the patch-author API (kpatch-macros.h): callbacks and a load hook.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "kpatch-macros.h"

static noinline void kpg_test_note(struct seq_file *m)
{
	seq_puts(m, " kpatchgo=new-function");
}

static int cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s kpatchgo=string", saved_command_line);
	kpg_test_note(m);
	seq_putc(m, '\n');
	return 0;
}

static int kpg_test_pre_patch(struct klp_object *obj)
{
	pr_info("kpatchgo: pre-patch\n");
	return 0;
}
KPATCH_PRE_PATCH_CALLBACK(kpg_test_pre_patch);

static void kpg_test_post_unpatch(struct klp_object *obj)
{
	pr_info("kpatchgo: post-unpatch\n");
}
KPATCH_POST_UNPATCH_CALLBACK(kpg_test_post_unpatch);

static void kpg_test_loaded(void)
{
	pr_info("kpatchgo: load hook\n");
}
KPATCH_LOAD_HOOK(kpg_test_loaded);

static int __init proc_cmdline_init(void)
{
	proc_create_single("kpg-test-cmdline", 0, NULL, cmdline_proc_show);
	return 0;
}
module_init(proc_cmdline_init);
