// SPDX-License-Identifier: GPL-2.0
/*
 * Test input for kpatch-macros.h and kpatch-syscall.h, written for this
 * project: every macro of the patch-author API once (the callbacks taking a
 * patch_object are in callbacks.c: an object has one callback of each
 * kind, and the load and unload hooks here are post-patch and pre-unpatch
 * callbacks), compiled against the real kernel's headers.
 */
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>
#include <asm/paravirt.h>
#include "kpatch-macros.h"

static noinline int kpg_macros_show(struct seq_file *m, void *v)
{
	static int kpg_macros_calls;

	KPATCH_PRINTK("kpatchgo: show %p (%d)\n", v, ++kpg_macros_calls);
	seq_puts(m, "kpatchgo");
	return 0;
}
KPATCH_FORCE_UNSAFE(kpg_macros_show);

static noinline int kpg_macros_deferred(int cpu)
{
	KPATCH_PRINTK_DEFERRED("kpatchgo: cpu %d\n", cpu);
	return cpu + 1;
}

/* The same static call, through the macro and as the kernel calls it. */
static noinline u64 kpg_macros_steal(int cpu)
{
	return KPATCH_STATIC_CALL(pv_steal_clock)(cpu);
}

static noinline u64 kpg_macros_steal_site(int cpu)
{
	return static_call(pv_steal_clock)(cpu);
}

static noinline int kpg_macros_noisy(void)
{
	return __LINE__;
}
KPATCH_IGNORE_FUNCTION(kpg_macros_noisy);
KPATCH_IGNORE_SECTION(".text.kpg_macros_unused");
KPATCH_IGNORE_STATIC("kpg_macros_calls");

static int kpg_macros_pre_patch(struct klp_object *obj)
{
	return kpg_macros_noisy() < 0;
}
KPATCH_PRE_PATCH_CALLBACK(kpg_macros_pre_patch);

static void kpg_macros_post_unpatch(struct klp_object *obj)
{
}
KPATCH_POST_UNPATCH_CALLBACK(kpg_macros_post_unpatch);

static int kpg_macros_loaded;

static noinline void kpg_macros_load(void)
{
	WRITE_ONCE(kpg_macros_loaded, 1);
}
KPATCH_LOAD_HOOK(kpg_macros_load);

static noinline void kpg_macros_unload(void)
{
	WRITE_ONCE(kpg_macros_loaded, 0);
}
KPATCH_UNLOAD_HOOK(kpg_macros_unload);

static int kpg_macros_open(struct inode *inode, struct file *file)
{
	return single_open(file, kpg_macros_show, NULL);
}

const struct file_operations kpg_macros_fops = {
	.open = kpg_macros_open,
};

int kpg_macros_use(int cpu)
{
	return kpg_macros_deferred(cpu) + kpg_macros_steal(cpu) + kpg_macros_steal_site(cpu);
}

/* Every KPATCH_SYSCALL_DEFINEn, each body too large to be inlined. */
static noinline long kpg_sys_work(long a, long b)
{
	return a * 31 + b;
}

#define KPG_BODY(x)								\
	long r = kpg_sys_work(x, 0);						\
	int i;									\
	for (i = 0; i < 64; i++)						\
		r = kpg_sys_work(r, i) ^ (r >> 3);				\
	return r

KPATCH_SYSCALL_DEFINE0(kpg_zero)
{
	KPG_BODY(0);
}

KPATCH_SYSCALL_DEFINE1(kpg_one, int, a)
{
	KPG_BODY(a);
}

KPATCH_SYSCALL_DEFINE2(kpg_two, int, a, unsigned long, b)
{
	KPG_BODY(a + b);
}

KPATCH_SYSCALL_DEFINE3(kpg_three, int, a, int, b, const char __user *, c)
{
	KPG_BODY(a + b + (long)c);
}

KPATCH_SYSCALL_DEFINE4(kpg_four, int, a, int, b, int, c, int, d)
{
	KPG_BODY(a + b + c + d);
}

KPATCH_SYSCALL_DEFINE5(kpg_five, int, a, int, b, int, c, int, d, long, e)
{
	KPG_BODY(a + b + c + d + e);
}

/* A body gcc keeps out of line: __kpatch_do_sys_kpg_six. */
#define KPG_STEP(v)	(r = kpg_sys_work(r, (v)) ^ kpg_sys_work(v, r))
#define KPG_STEPS(v)	KPG_STEP(v); KPG_STEP(v + c); KPG_STEP(v + d); KPG_STEP(v + e)

KPATCH_SYSCALL_DEFINE6(kpg_six, int, a, int, b, int, c, int, d, long, e, long, f)
{
	long r = a + b;

	KPG_STEPS(f);
	KPG_STEPS(f * 3);
	KPG_STEPS(f * 5);
	KPG_STEPS(f * 7);
	KPG_STEPS(f * 11);
	KPG_STEPS(f * 13);
	KPG_STEPS(f * 17);
	KPG_STEPS(f * 19);
	return r;
}
