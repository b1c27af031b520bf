// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of the livepatch core.  The core itself is Go code of the
 * machine (emulator/livepatch); these functions hand it requests with
 * hypercalls and run, on the calling task, the callbacks it asks for
 * (see struct klp_call in <linux/livepatch.h>).
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/sched.h>
#include <linux/livepatch.h>
#include <asm/hypercall.h>

typedef long (*klp_call_fn_t)(unsigned long arg);

/* Run the callbacks the core asks for until it answers. */
static noinline long klp_run_calls(long ret, struct klp_call *call)
{
	while (ret == KLP_CALL) {
		call->ret = ((klp_call_fn_t)call->fn)(call->arg);
		ret = hypercall1(HC_KLP_CONTINUE, (unsigned long)call);
	}
	return ret;
}

int klp_enable_patch(struct klp_patch *patch)
{
	struct klp_call call = {};

	return klp_run_calls(hypercall2(HC_KLP_ENABLE, (unsigned long)patch,
					(unsigned long)&call), &call);
}
EXPORT_SYMBOL_GPL(klp_enable_patch);

struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id)
{
	return (struct klp_state *)hypercall2(HC_KLP_GET_STATE, (unsigned long)patch, id);
}
EXPORT_SYMBOL_GPL(klp_get_state);

struct klp_state *klp_get_prev_state(unsigned long id)
{
	return (struct klp_state *)hypercall1(HC_KLP_GET_PREV_STATE, id);
}
EXPORT_SYMBOL_GPL(klp_get_prev_state);

/*
 * The transition worker (Linux's klp_transition_work): the core starts it
 * with the first patch and wakes it when there is work; it retries
 * transitions and runs post-patch and post-unpatch callbacks.
 */
int klp_transition_worker(void *unused)
{
	struct klp_call call = {};

	for (;;) {
		klp_run_calls(hypercall1(HC_KLP_WORK, (unsigned long)&call), &call);
		if (call.sleep > 0)
			schedule_timeout(call.sleep);
		else
			schedule();
	}
	return 0;
}
