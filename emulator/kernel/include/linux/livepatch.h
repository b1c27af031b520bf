/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_LIVEPATCH_H
#define _LINUX_LIVEPATCH_H

/*
 * The livepatch API, with Linux's names, so that patch modules (and
 * kpatch-build's generated patch hook) are written exactly as for Linux.
 *
 * The core is not C: klp_enable_patch() hands the patch to the machine's
 * livepatch core (Go) with a hypercall, which reads these structures from
 * memory.  Their layouts are therefore part of the ABI (see ABI.md,
 * "Livepatch"); the offsets below are checked at compile time.
 *
 * Beyond Linux: struct klp_patch has a consistency model and struct
 * klp_func per-function flags (force: skip the stack check of this
 * function; immediate: switch it without waiting for the transition).
 */

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/module.h>

/* Consistency models (struct klp_patch.model). */
#define KLP_MODEL_HYBRID	0	/* livepatch: per-task switching (default) */
#define KLP_MODEL_IMMEDIATE	1	/* switch every task at once, no checks */
#define KLP_MODEL_STOP_MACHINE	2	/* kpatch: stop_machine + stack check */
#define KLP_MODEL_REFCOUNT	3	/* count entries/exits, switch at zero */

/* Per-function flags (struct klp_func.flags). */
#define KLP_FUNC_FORCE		0x1	/* no stack check for this function */
#define KLP_FUNC_IMMEDIATE	0x2	/* redirect at once, whatever the model */

struct klp_func {
	const char *old_name;		/* function to patch */
	void *new_func;			/* replacement */
	unsigned long old_sympos;	/* 0: name unique; n: n-th of that name */
	unsigned long flags;		/* KLP_FUNC_* */
};

struct klp_object;

struct klp_callbacks {
	int (*pre_patch)(struct klp_object *obj);
	void (*post_patch)(struct klp_object *obj);
	void (*pre_unpatch)(struct klp_object *obj);
	void (*post_unpatch)(struct klp_object *obj);
	bool post_unpatch_enabled;	/* set by the core */
};

struct klp_object {
	const char *name;		/* NULL for vmlinux, else a module name */
	struct klp_func *funcs;		/* ends with an all-zero entry */
	struct klp_callbacks callbacks;
	struct module *mod;		/* set by the core: the loaded module, NULL for vmlinux */
};

struct klp_state {
	unsigned long id;
	unsigned int version;
	void *data;
};

struct klp_patch {
	struct module *mod;		/* THIS_MODULE (may be NULL here) */
	struct klp_object *objs;	/* ends with an all-zero entry */
	struct klp_state *states;	/* ends with an entry with id 0; may be NULL */
	bool replace;			/* atomic replace of all older patches */
	int model;			/* KLP_MODEL_* */
};

/* Layouts the Go core decodes. */
static_assert(sizeof(struct klp_func) == 32, "klp_func layout");
static_assert(offsetof(struct klp_object, callbacks) == 16, "klp_object layout");
static_assert(offsetof(struct klp_object, mod) == 56, "klp_object layout");
static_assert(sizeof(struct klp_object) == 64, "klp_object layout");
static_assert(offsetof(struct module, state) == 0, "module layout");
static_assert(offsetof(struct module, name) == 4, "module layout");
static_assert(sizeof(struct module) == 60, "module layout");
static_assert(sizeof(struct klp_state) == 24, "klp_state layout");
static_assert(offsetof(struct klp_patch, replace) == 24, "klp_patch layout");
static_assert(offsetof(struct klp_patch, model) == 28, "klp_patch layout");

/* Hypercalls of the livepatch core (numbers from 0x100, see hypercall.h). */
#define HC_KLP_ENABLE		0x100	/* (struct klp_patch *) -> 0 or -errno */
#define HC_KLP_GET_STATE	0x101	/* (struct klp_patch *, id) -> struct klp_state * or 0 */
#define HC_KLP_GET_PREV_STATE	0x102	/* (id) -> struct klp_state * of an older patch, or 0 */
#define HC_KLP_CONTINUE		0x103	/* (struct klp_call *) -> as HC_KLP_ENABLE / HC_KLP_WORK */
#define HC_KLP_WORK		0x104	/* (struct klp_call *) -> KLP_CALL or 0 (then sleep) */
#define HC_KLP_SWITCH		0x105	/* (pid, -1: every task) -> 0, -EBUSY if the task can move */
#define HC_KLP_REFCOUNT		0x106	/* (pid, unsigned long *slot, unsigned long ret) -> 1 counted, 0 not */
#define HC_KLP_STACK_SEEN	0x107	/* (pid, unsigned long *entries, nr, reliable) -> 0: for tests */

/*
 * The call protocol.  The core runs a patch's callbacks in the kernel, on
 * the task that asked for the service: HC_KLP_ENABLE(patch, call) and
 * HC_KLP_WORK(call) may return KLP_CALL with call->fn and call->arg
 * filled in; the C side then calls fn(arg), stores the result in
 * call->ret and issues HC_KLP_CONTINUE(call), until the core returns
 * something else.  HC_KLP_WORK is the transition worker's: when it
 * returns 0, the worker sleeps call->sleep ns (0: until woken).
 */
#define KLP_CALL		1

struct klp_call {
	unsigned long fn;		/* long fn(unsigned long arg) */
	unsigned long arg;
	long ret;			/* set by C: what fn returned */
	long sleep;			/* set by the core for the worker */
};
static_assert(sizeof(struct klp_call) == 32, "klp_call layout");

/*
 * The stack checks (kernel/livepatch/transition.c).  The core hands them
 * a struct klp_check: the address ranges of the functions no task may be
 * in (start inclusive, end exclusive) and the tasks to look at; they walk
 * each task's frame pointers and compare every return address with every
 * range (Linux's klp_check_stack_func()), and fill in the results.
 */
struct klp_range {
	unsigned long start, end;
};

#define KLP_CHECK_REPORT	0x1	/* HC_KLP_STACK_SEEN for every stack walked */

#define KLP_BUSY_RUNNING	1	/* the task runs on another CPU */
#define KLP_BUSY_FUNC		2	/* a function in transition is on its stack */
#define KLP_BUSY_UNRELIABLE	3	/* its stack cannot be walked reliably */

struct klp_check {
	unsigned long nr_ranges;	/*   0 in */
	struct klp_range *ranges;	/*   8 in */
	unsigned long nr_pids;		/*  16 in */
	long *pids;			/*  24 in */
	unsigned long flags;		/*  32 in: KLP_CHECK_* */
	long busy_pid;			/*  40 out: the first task that blocks, 0 if none */
	unsigned long busy_addr;	/*  48 out: where it is (KLP_BUSY_FUNC) */
	long busy_reason;		/*  56 out: KLP_BUSY_* */
	u64 pause_ns;			/*  64 out: stop_machine's pause */
	u64 max_hold_ns;		/*  72 out: longest time one task was held */
	unsigned long nr_switched;	/*  80 out */
	unsigned long nr_counted;	/*  88 out: frames counted (reference counting) */
};
static_assert(sizeof(struct klp_check) == 96, "klp_check layout");

long klp_stop_machine_check(struct klp_check *chk);
long klp_try_complete_transition(struct klp_check *chk);
long klp_count_stacks(struct klp_check *chk);

int klp_enable_patch(struct klp_patch *patch);
struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id);
struct klp_state *klp_get_prev_state(unsigned long id);

/* Shadow variables: data attached to an existing object by (obj, id). */
typedef int (*klp_shadow_ctor_t)(void *obj, void *shadow_data, void *ctor_data);
typedef void (*klp_shadow_dtor_t)(void *obj, void *shadow_data);

void *klp_shadow_get(void *obj, unsigned long id);
void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
		       klp_shadow_ctor_t ctor, void *ctor_data);
void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
			      klp_shadow_ctor_t ctor, void *ctor_data);
void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor);
void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);

#endif /* _LINUX_LIVEPATCH_H */
