// SPDX-License-Identifier: GPL-2.0
/*
 * The init code of every patch module kpatch-build generates.  The diff
 * objects carry one struct kpatch_patch_func per patched function in
 * .kpatch.funcs and the callbacks in .kpatch.callbacks.*; the linker
 * script (kpatch.lds) brackets them with start and end symbols.  At load
 * time this code groups the functions by object, builds the livepatch
 * structures and enables the patch.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

#ifndef KLP_REPLACE_ENABLE
#define KLP_REPLACE_ENABLE true
#endif
#ifndef KLP_MODEL
#define KLP_MODEL KLP_MODEL_HYBRID
#endif

/* One patched function, as the diff engine writes it (56 bytes). */
struct kpatch_patch_func {
	unsigned long new_addr;
	unsigned long new_size;
	unsigned long old_addr;
	unsigned long old_size;
	unsigned long sympos;
	const char *name;
	const char *objname;
};

/* One callback entry of a .kpatch.callbacks.* section (16 bytes). */
struct kpatch_callback {
	void *fn;
	const char *objname;
};

extern struct kpatch_patch_func __kpatch_funcs[], __kpatch_funcs_end[];
/* KPATCH_FORCE_UNSAFE: pointers to functions patched without a stack check. */
extern unsigned long __kpatch_force_funcs[], __kpatch_force_funcs_end[];

extern struct kpatch_callback __kpatch_callbacks_pre_patch[], __kpatch_callbacks_pre_patch_end[];
extern struct kpatch_callback __kpatch_callbacks_post_patch[], __kpatch_callbacks_post_patch_end[];
extern struct kpatch_callback __kpatch_callbacks_pre_unpatch[], __kpatch_callbacks_pre_unpatch_end[];
extern struct kpatch_callback __kpatch_callbacks_post_unpatch[], __kpatch_callbacks_post_unpatch_end[];

static struct klp_patch *lpatch;

static bool same_object(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* klp names vmlinux NULL. */
static const char *klp_objname(const char *objname)
{
	return same_object(objname, "vmlinux") ? NULL : objname;
}

static int find_object(const char **names, int n, const char *objname)
{
	int i;

	for (i = 0; i < n; i++)
		if (same_object(names[i], objname))
			return i;
	return -1;
}

static void *find_callback(struct kpatch_callback *start, struct kpatch_callback *end,
			   const char *objname, int *err)
{
	struct kpatch_callback *cb;
	void *fn = NULL;

	for (cb = start; cb < end; cb++) {
		if (!cb->fn || !same_object(cb->objname, objname))
			continue;
		if (fn) {
			printk("livepatch: extra callback for object %s\n", objname);
			*err = -EINVAL;
		}
		fn = cb->fn;
	}
	return fn;
}

static bool forced(unsigned long addr)
{
	unsigned long *p;

	for (p = __kpatch_force_funcs; p < __kpatch_force_funcs_end; p++)
		if (*p == addr)
			return true;
	return false;
}

static int __init patch_init(void)
{
	struct kpatch_patch_func *f;
	const char **names;
	int nobjs = 0, nfuncs = __kpatch_funcs_end - __kpatch_funcs;
	int *counts, i, err = 0;
	struct kpatch_callback *lists[4][2] = {
		{ __kpatch_callbacks_pre_patch, __kpatch_callbacks_pre_patch_end },
		{ __kpatch_callbacks_post_patch, __kpatch_callbacks_post_patch_end },
		{ __kpatch_callbacks_pre_unpatch, __kpatch_callbacks_pre_unpatch_end },
		{ __kpatch_callbacks_post_unpatch, __kpatch_callbacks_post_unpatch_end },
	};
	int k;

	/* Every object named by a function or a callback. */
	names = kmalloc(sizeof(*names) * (nfuncs + 4 * 16 + 1), GFP_KERNEL);
	if (!names)
		return -ENOMEM;
	for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++)
		if (find_object(names, nobjs, f->objname) < 0)
			names[nobjs++] = f->objname;
	for (k = 0; k < 4; k++) {
		struct kpatch_callback *cb;

		for (cb = lists[k][0]; cb < lists[k][1]; cb++)
			if (cb->fn && find_object(names, nobjs, cb->objname) < 0 && nobjs < nfuncs + 64)
				names[nobjs++] = cb->objname;
	}

	lpatch = kmalloc(sizeof(*lpatch), GFP_KERNEL);
	counts = kmalloc(sizeof(int) * (nobjs + 1), GFP_KERNEL);
	if (!lpatch || !counts)
		return -ENOMEM;
	memset(lpatch, 0, sizeof(*lpatch));
	lpatch->objs = kmalloc(sizeof(struct klp_object) * (nobjs + 1), GFP_KERNEL);
	if (!lpatch->objs)
		return -ENOMEM;
	memset(lpatch->objs, 0, sizeof(struct klp_object) * (nobjs + 1));
	memset(counts, 0, sizeof(int) * (nobjs + 1));
	for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++)
		counts[find_object(names, nobjs, f->objname)]++;

	for (i = 0; i < nobjs; i++) {
		struct klp_object *obj = &lpatch->objs[i];
		int n = 0;

		obj->name = klp_objname(names[i]);
		obj->funcs = kmalloc(sizeof(struct klp_func) * (counts[i] + 1), GFP_KERNEL);
		if (!obj->funcs)
			return -ENOMEM;
		memset(obj->funcs, 0, sizeof(struct klp_func) * (counts[i] + 1));
		for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++) {
			if (!same_object(f->objname, names[i]))
				continue;
			obj->funcs[n].old_name = f->name;
			obj->funcs[n].new_func = (void *)f->new_addr;
			obj->funcs[n].old_sympos = f->sympos;
			if (forced(f->new_addr))
				obj->funcs[n].flags |= KLP_FUNC_FORCE;
			n++;
		}
		obj->callbacks.pre_patch = find_callback(lists[0][0], lists[0][1], names[i], &err);
		obj->callbacks.post_patch = find_callback(lists[1][0], lists[1][1], names[i], &err);
		obj->callbacks.pre_unpatch = find_callback(lists[2][0], lists[2][1], names[i], &err);
		obj->callbacks.post_unpatch = find_callback(lists[3][0], lists[3][1], names[i], &err);
	}
	kfree(counts);
	kfree(names);
	if (err)
		return err;

	lpatch->mod = NULL;
	lpatch->replace = KLP_REPLACE_ENABLE;
	lpatch->model = KLP_MODEL;
	return klp_enable_patch(lpatch);
}

static void __exit patch_exit(void)
{
}

module_init(patch_init);
module_exit(patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
