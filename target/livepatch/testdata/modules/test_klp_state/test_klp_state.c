// SPDX-License-Identifier: GPL-2.0
/*
 * System states: the patch declares state 1 (the console log level in
 * Linux's test; a kmalloc'ed value here) at version LP_STATE_VERSION.
 * Its pre-patch callback takes the state over from an older patch
 * (klp_get_prev_state) or sets it up; its post-unpatch callback restores
 * the system when the patch is disabled.
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

static struct klp_patch patch;

static int pre_patch_callback(struct klp_object *obj)
{
	struct klp_state *state = klp_get_state(&patch, STATE_ID);
	struct klp_state *prev = klp_get_prev_state(STATE_ID);

	if (!state)
		return -22;
	if (prev) {
		state->data = prev->data;
		pr_info("%s: taking over state %d (version %u -> %u), value %d\n", KBUILD_MODNAME,
			STATE_ID, prev->version, state->version, *(int *)state->data);
		return 0;
	}
	state->data = kmalloc(sizeof(int), GFP_KERNEL);
	if (!state->data)
		return -12;
	*(int *)state->data = 7;
	pr_info("%s: setting up state %d (version %u): modifying the system\n", KBUILD_MODNAME,
		STATE_ID, state->version);
	return 0;
}

static void post_unpatch_callback(struct klp_object *obj)
{
	struct klp_state *state = klp_get_state(&patch, STATE_ID);

	pr_info("%s: restoring the system, freeing state %d\n", KBUILD_MODNAME, STATE_ID);
	kfree(state->data);
}

static struct klp_func no_funcs[] = { { } };

static struct klp_object objs[] = {
	{
		.funcs = no_funcs,
		.callbacks = {
			.pre_patch = pre_patch_callback,
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
