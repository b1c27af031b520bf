// SPDX-License-Identifier: GPL-2.0
/*
 * The callback demo of the selftests: callbacks for vmlinux and the
 * target modules print what they are called for, with the state of the
 * module (obj->mod); the patch changes a function of each module.  The test build may define LP_PRE_PATCH_RET
 * and LP_MOD_PRE_PATCH_RET (what the pre-patch callbacks of vmlinux and
 * of the modules return), LP_REPLACE and LP_TAG.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/delay.h>
#include <linux/livepatch.h>

#ifndef LP_PRE_PATCH_RET
#define LP_PRE_PATCH_RET 0
#endif
#ifndef LP_MOD_PRE_PATCH_RET
#define LP_MOD_PRE_PATCH_RET 0
#endif
#ifndef LP_REPLACE
#define LP_REPLACE false
#endif
#ifndef LP_TAG
#define LP_TAG KBUILD_MODNAME
#endif

/* What a callback says about the module state of its object. */
static const char *const state_text[] = {
	[MODULE_STATE_LIVE] = "[MODULE_STATE_LIVE] Normal state",
	[MODULE_STATE_COMING] = "[MODULE_STATE_COMING] Full formed, running module_init",
	[MODULE_STATE_GOING] = "[MODULE_STATE_GOING] Going away",
	[MODULE_STATE_UNFORMED] = "[MODULE_STATE_UNFORMED] Still setting it up",
};

/* vmlinux, or "module -> state" from the struct module the core gives. */
static void say(const char *callback, struct klp_object *obj)
{
	if (!obj->mod) {
		pr_info("%s: %s: vmlinux\n", LP_TAG, callback);
		return;
	}
	if (obj->mod->state > MODULE_STATE_UNFORMED) {
		pr_info("%s: %s: %s -> state %d?\n", LP_TAG, callback, obj->mod->name, obj->mod->state);
		return;
	}
	pr_info("%s: %s: %s -> %s\n", LP_TAG, callback, obj->mod->name, state_text[obj->mod->state]);
}

static int pre_patch_callback(struct klp_object *obj)
{
	say(__func__, obj);
	return obj->name ? LP_MOD_PRE_PATCH_RET : LP_PRE_PATCH_RET;
}

static void post_patch_callback(struct klp_object *obj)
{
	say(__func__, obj);
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	say(__func__, obj);
}

static void post_unpatch_callback(struct klp_object *obj)
{
	say(__func__, obj);
}

static int patched_callbacks_mod_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: patched\n", LP_TAG);
	return 0;
}

static void patched_busymod_work_func(void)
{
	pr_info("%s: patched busymod_work_func\n", LP_TAG);
}

static struct klp_func no_funcs[] = { { } };

static struct klp_func mod_funcs[] = {
	{ .old_name = "callbacks_mod_show", .new_func = patched_callbacks_mod_show, },
	{ }
};

static struct klp_func busymod_funcs[] = {
	{ .old_name = "busymod_work_func", .new_func = patched_busymod_work_func, },
	{ }
};

#define CALLBACKS {					\
	.pre_patch = pre_patch_callback,		\
	.post_patch = post_patch_callback,		\
	.pre_unpatch = pre_unpatch_callback,		\
	.post_unpatch = post_unpatch_callback,		\
}

static struct klp_object objs[] = {
	{ .name = NULL, .funcs = no_funcs, .callbacks = CALLBACKS, },
	{ .name = "test_klp_callbacks_mod", .funcs = mod_funcs, .callbacks = CALLBACKS, },
	{ .name = "test_klp_callbacks_busy", .funcs = busymod_funcs, .callbacks = CALLBACKS, },
	/* The same module built to block (Linux: a module parameter). */
	{ .name = "test_klp_callbacks_busy_block", .funcs = busymod_funcs, .callbacks = CALLBACKS, },
	{ }
};

static struct klp_patch patch = {
	.objs = objs,
	.replace = LP_REPLACE,
};

static int test_klp_callbacks_demo_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_callbacks_demo_exit(void)
{
}

module_init(test_klp_callbacks_demo_init);
module_exit(test_klp_callbacks_demo_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
