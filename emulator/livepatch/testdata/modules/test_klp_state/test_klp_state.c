// SPDX-License-Identifier: GPL-2.0
/*
 * System states: the patch declares state 1 at version LP_STATE_VERSION.
 * In Linux's test the state is a change of console_loglevel; the bundled
 * kernel has none, so the "system setting" here is a word the first patch
 * allocates and changes (saving the original in the state's data), which
 * later patches take over and the last one restores.  The callbacks run
 * Linux's four steps: allocate (or find allocated) in pre-patch, fix (or
 * take over) in post-patch, restore in pre-unpatch, free in post-unpatch.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

#ifndef LP_STATE_VERSION
#define LP_STATE_VERSION 1
#endif
#ifndef LP_REPLACE
#define LP_REPLACE true
#endif
#define STATE_ID 1

/* The setting the state changes, and the value the patch wants. */
struct setting {
	int value;	/* the system's setting */
	int saved;	/* its value before the first patch */
};
#define PATCHED_VALUE 7

static struct klp_patch patch;

static int allocate_state(void)
{
	struct klp_state *state = klp_get_state(&patch, STATE_ID);
	struct klp_state *prev = klp_get_prev_state(STATE_ID);
	struct setting *s;

	if (!state)
		return -22;
	if (prev) {
		pr_info("%s: %s: space to store the setting already allocated\n", KBUILD_MODNAME, __func__);
		state->data = prev->data;
		return 0;
	}
	pr_info("%s: %s: allocating space to store the setting\n", KBUILD_MODNAME, __func__);
	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -12;
	s->value = 1;
	s->saved = 0;
	state->data = s;
	return 0;
}

static void fix_setting(void)
{
	struct klp_state *state = klp_get_state(&patch, STATE_ID);
	struct setting *s = state->data;

	if (klp_get_prev_state(STATE_ID)) {
		pr_info("%s: %s: taking over the setting change (value %d)\n", KBUILD_MODNAME, __func__, s->value);
		return;
	}
	pr_info("%s: %s: fixing the setting (%d -> %d)\n", KBUILD_MODNAME, __func__, s->value, PATCHED_VALUE);
	s->saved = s->value;
	s->value = PATCHED_VALUE;
}

static void restore_setting(void)
{
	struct setting *s = klp_get_state(&patch, STATE_ID)->data;

	pr_info("%s: %s: restoring the setting (%d -> %d)\n", KBUILD_MODNAME, __func__, s->value, s->saved);
	s->value = s->saved;
}

static void free_state(void)
{
	struct klp_state *state = klp_get_state(&patch, STATE_ID);

	pr_info("%s: %s: freeing space for the stored setting\n", KBUILD_MODNAME, __func__);
	kfree(state->data);
	state->data = NULL;
}

static int pre_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s: vmlinux\n", KBUILD_MODNAME, __func__);
	return allocate_state();
}

static void post_patch_callback(struct klp_object *obj)
{
	pr_info("%s: %s: vmlinux\n", KBUILD_MODNAME, __func__);
	fix_setting();
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s: vmlinux\n", KBUILD_MODNAME, __func__);
	restore_setting();
}

static void post_unpatch_callback(struct klp_object *obj)
{
	pr_info("%s: %s: vmlinux\n", KBUILD_MODNAME, __func__);
	free_state();
}

static struct klp_func no_funcs[] = { { } };

static struct klp_object objs[] = {
	{
		.funcs = no_funcs,
		.callbacks = {
			.pre_patch = pre_patch_callback,
			.post_patch = post_patch_callback,
			.pre_unpatch = pre_unpatch_callback,
			.post_unpatch = post_unpatch_callback,
		},
	}, { }
};

static struct klp_state states[] = {
	{ .id = STATE_ID, .version = LP_STATE_VERSION, },
	{ }
};

static struct klp_patch patch = {
	.objs = objs,
	.states = states,
	.replace = LP_REPLACE,
};

static int test_klp_state_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_state_exit(void)
{
}

module_init(test_klp_state_init);
module_exit(test_klp_state_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
