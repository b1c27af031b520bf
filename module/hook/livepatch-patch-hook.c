// SPDX-License-Identifier: GPL-2.0
/*
 * The init code of every patch module kpatch-build generates.  The diff
 * objects carry one struct kpatch_patch_func per patched function in
 * .kpatch.funcs and the callbacks in .kpatch.callbacks.*; the linker
 * script (kpatch.lds) brackets them with start and end symbols.  At load
 * time this code groups the functions by object (vmlinux, or a module by
 * name), builds the livepatch structures and enables the patch.
 *
 * It builds against two livepatch APIs: Linux's (struct klp_patch with
 * mod, objs, replace) and the bundled emulated kernel's, which adds a
 * consistency model per patch and a force flag per function
 * (KLP_MODEL_HYBRID and KLP_FUNC_FORCE are defined there only).
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

#ifndef KLP_REPLACE_ENABLE
#define KLP_REPLACE_ENABLE true
#endif
#if defined(KLP_MODEL_HYBRID) && !defined(KLP_MODEL)
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

enum { PRE_PATCH, POST_PATCH, PRE_UNPATCH, POST_UNPATCH, NR_CALLBACK_KINDS };

static const char *const callback_kinds[NR_CALLBACK_KINDS] = {
	"pre-patch", "post-patch", "pre-unpatch", "post-unpatch",
};

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

static void add_object(const char **names, int *n, const char *objname)
{
	if (find_object(names, *n, objname) < 0)
		names[(*n)++] = objname;
}

static void *find_callback(struct kpatch_callback *start, struct kpatch_callback *end,
			   const char *kind, const char *objname, int *err)
{
	struct kpatch_callback *cb;
	void *fn = NULL;

	for (cb = start; cb < end; cb++) {
		if (!cb->fn || !cb->objname || !same_object(cb->objname, objname))
			continue;
		if (fn) {
			pr_err("livepatch: extra %s callback for object %s\n", kind, objname);
			*err = -EINVAL;
		}
		fn = cb->fn;
	}
	return fn;
}

#ifdef KLP_FUNC_FORCE
static bool forced(unsigned long addr)
{
	unsigned long *p;

	for (p = __kpatch_force_funcs; p < __kpatch_force_funcs_end; p++)
		if (*p == addr)
			return true;
	return false;
}
#endif

static void free_patch(struct klp_patch *patch)
{
	struct klp_object *obj;

	if (!patch)
		return;
	if (patch->objs) {
		for (obj = patch->objs; obj->funcs; obj++)
			kfree(obj->funcs);
		kfree(patch->objs);
	}
	kfree(patch);
}

static int __init patch_init(void)
{
	struct kpatch_callback *lists[NR_CALLBACK_KINDS][2] = {
		{ __kpatch_callbacks_pre_patch, __kpatch_callbacks_pre_patch_end },
		{ __kpatch_callbacks_post_patch, __kpatch_callbacks_post_patch_end },
		{ __kpatch_callbacks_pre_unpatch, __kpatch_callbacks_pre_unpatch_end },
		{ __kpatch_callbacks_post_unpatch, __kpatch_callbacks_post_unpatch_end },
	};
	struct kpatch_patch_func *f;
	struct kpatch_callback *cb;
	const char **names;
	int nobjs = 0, most = __kpatch_funcs_end - __kpatch_funcs;
	int i, k, err = 0;

	for (k = 0; k < NR_CALLBACK_KINDS; k++)
		most += lists[k][1] - lists[k][0];

	/* Every object named by a function or a callback, in order. */
	names = kzalloc(sizeof(*names) * (most + 1), GFP_KERNEL);
	if (!names)
		return -ENOMEM;
	for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++)
		add_object(names, &nobjs, f->objname);
	for (k = 0; k < NR_CALLBACK_KINDS; k++)
		for (cb = lists[k][0]; cb < lists[k][1]; cb++)
			if (cb->fn && cb->objname)
				add_object(names, &nobjs, cb->objname);

	err = -ENOMEM;
	lpatch = kzalloc(sizeof(*lpatch), GFP_KERNEL);
	if (!lpatch)
		goto out;
	/* Zero-terminated: klp stops at the first object without functions. */
	lpatch->objs = kzalloc(sizeof(struct klp_object) * (nobjs + 1), GFP_KERNEL);
	if (!lpatch->objs)
		goto out;
	for (i = 0; i < nobjs; i++) {
		struct klp_object *obj = &lpatch->objs[i];
		int n = 0;

		for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++)
			if (same_object(f->objname, names[i]))
				n++;
		/* Every object has a (possibly empty) function array. */
		obj->funcs = kzalloc(sizeof(struct klp_func) * (n + 1), GFP_KERNEL);
		if (!obj->funcs)
			goto out;
		obj->name = klp_objname(names[i]);
		n = 0;
		for (f = __kpatch_funcs; f < __kpatch_funcs_end; f++) {
			if (!same_object(f->objname, names[i]))
				continue;
			obj->funcs[n].old_name = f->name;
			obj->funcs[n].new_func = (void *)f->new_addr;
			obj->funcs[n].old_sympos = f->sympos;
#ifdef KLP_FUNC_FORCE
			if (forced(f->new_addr))
				obj->funcs[n].flags |= KLP_FUNC_FORCE;
#endif
			n++;
		}
	}
	err = 0;
	for (i = 0; i < nobjs; i++) {
		struct klp_object *obj = &lpatch->objs[i];

		obj->callbacks.pre_patch = find_callback(lists[PRE_PATCH][0], lists[PRE_PATCH][1],
							 callback_kinds[PRE_PATCH], names[i], &err);
		obj->callbacks.post_patch = find_callback(lists[POST_PATCH][0], lists[POST_PATCH][1],
							  callback_kinds[POST_PATCH], names[i], &err);
		obj->callbacks.pre_unpatch = find_callback(lists[PRE_UNPATCH][0], lists[PRE_UNPATCH][1],
							   callback_kinds[PRE_UNPATCH], names[i], &err);
		obj->callbacks.post_unpatch = find_callback(lists[POST_UNPATCH][0], lists[POST_UNPATCH][1],
							    callback_kinds[POST_UNPATCH], names[i], &err);
	}
	if (err)
		goto out;

	lpatch->replace = KLP_REPLACE_ENABLE;
#ifdef KLP_MODEL
	lpatch->mod = NULL;
	lpatch->model = KLP_MODEL;
#else
	lpatch->mod = THIS_MODULE;
#endif
	err = klp_enable_patch(lpatch);
out:
	kfree(names);
	if (err) {
		free_patch(lpatch);
		lpatch = NULL;
	}
	return err;
}

/*
 * Linux's livepatch holds a reference on this module until it has let go of
 * the patch, so the exit code can free it.  The bundled kernel makes no such
 * promise (mod is NULL there): its structures stay.
 */
static void __exit patch_exit(void)
{
#ifndef KLP_MODEL
	free_patch(lpatch);
#endif
}

module_init(patch_init);
module_exit(patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
