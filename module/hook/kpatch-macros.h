/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatch-macros.h: the patch-author API of kpatch-build.
 *
 * A patch includes this header ("#include \"kpatch-macros.h\"", it is on the
 * include path of every patched object) to steer the diff engine and to run
 * code when the patch is applied or removed.  The macros only place small
 * records in sections whose names the diff engine knows:
 *
 *   .kpatch.ignore.sections          a pointer to a section name: changes in
 *                                    that section are ignored
 *   .kpatch.ignore.functions         a pointer to a function: its changes are
 *                                    ignored
 *   .kpatch.force                    a pointer to a function patched without
 *                                    the livepatch stack check (only where
 *                                    the kernel supports it; Linux's
 *                                    livepatch has no per-function force)
 *   .kpatch.callbacks.pre_patch      { callback, object name }, 16 bytes on
 *   .kpatch.callbacks.post_patch     64-bit machines; the object name is
 *   .kpatch.callbacks.pre_unpatch    left NULL here and filled in by the
 *   .kpatch.callbacks.post_unpatch   diff engine with the patched object
 *
 * Every callback gets the struct klp_object of the object (vmlinux or a
 * module) its source file belongs to; a pre-patch callback returning non-zero
 * stops the patch from being applied to that object.  One callback of each
 * kind per object.
 *
 * Shadow variables are the kernel's own: include <linux/livepatch.h> and use
 * klp_shadow_alloc(), klp_shadow_get(), klp_shadow_get_or_alloc() and
 * klp_shadow_free().
 */
#ifndef KPATCH_MACROS_H
#define KPATCH_MACROS_H

#include <linux/compiler.h>
#include <linux/jiffies.h>
#include <linux/printk.h>

struct klp_object;

/* KPATCH_IGNORE_SECTION("name"): ignore changes in section name. */
#define KPATCH_IGNORE_SECTION(_sec)						\
	char *__UNIQUE_ID(kpatch_ignore_section_)				\
		__section(".kpatch.ignore.sections") = (_sec)

/* KPATCH_IGNORE_FUNCTION(fn): ignore changes in fn (e.g. line numbers). */
#define KPATCH_IGNORE_FUNCTION(_fn)						\
	void *__kpatch_ignore_func_##_fn					\
		__section(".kpatch.ignore.functions") = (_fn)

/*
 * KPATCH_FORCE_UNSAFE(fn): patch fn even while it is on a task's stack.
 * Only safe when the old and new versions may run at the same time.
 */
#define KPATCH_FORCE_UNSAFE(_fn)						\
	void *__kpatch_force_func_##_fn __section(".kpatch.force") = (_fn)

/* The record of one callback; objname is filled in by the diff engine. */
struct kpatch_callback_int {
	int (*fn)(struct klp_object *obj);
	const char *objname;
};

struct kpatch_callback_void {
	void (*fn)(struct klp_object *obj);
	const char *objname;
};

/*
 * __KPATCH_CALLBACK(kind, type, ret, fn): one record of kind in its section.
 * The inline function only checks that fn has the right signature.
 */
#define __KPATCH_CALLBACK(_kind, _type, _ret, _fn)				\
	static inline _ret (*__kpatch_check_##_kind(void))(struct klp_object *) \
	{									\
		return _fn;							\
	}									\
	static struct kpatch_callback_##_type __kpatch_##_kind##_record	\
		__section(".kpatch.callbacks." #_kind) __used = {		\
		.fn = _fn,							\
		.objname = NULL,						\
	}

/* int fn(struct klp_object *): before the object is patched; may refuse. */
#define KPATCH_PRE_PATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(pre_patch, int, int, _fn)
/* void fn(struct klp_object *): after the object is patched everywhere. */
#define KPATCH_POST_PATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(post_patch, void, void, _fn)
/* void fn(struct klp_object *): before the object is unpatched. */
#define KPATCH_PRE_UNPATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(pre_unpatch, void, void, _fn)
/* void fn(struct klp_object *): after the object is unpatched everywhere. */
#define KPATCH_POST_UNPATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(post_unpatch, void, void, _fn)

/*
 * The older load and unload hooks, void fn(void), kept so patches written for
 * them build unchanged.  A load hook runs once its object is patched (when the
 * patch is enabled, or later when the patched module loads): it is a
 * post-patch callback.  An unload hook runs while the patched code is still
 * active, just before the object is unpatched: it is a pre-unpatch callback.
 * An object can therefore not have both a load hook and a post-patch
 * callback, nor both an unload hook and a pre-unpatch callback.
 */
#define KPATCH_LOAD_HOOK(_fn)							\
	static void __kpatch_load_hook_##_fn(struct klp_object *obj)		\
	{									\
		void (*hook)(void) = (_fn);					\
		hook();								\
	}									\
	KPATCH_POST_PATCH_CALLBACK(__kpatch_load_hook_##_fn)

#define KPATCH_UNLOAD_HOOK(_fn)							\
	static void __kpatch_unload_hook_##_fn(struct klp_object *obj)	\
	{									\
		void (*hook)(void) = (_fn);					\
		hook();								\
	}									\
	KPATCH_PRE_UNPATCH_CALLBACK(__kpatch_unload_hook_##_fn)

/*
 * KPATCH_PRINTK(fmt, ...): printk without making the calling path cold.
 * printk is declared __cold, so gcc may move the code around a call into
 * .text.unlikely or stop inlining its callees; the always-true test on
 * jiffies keeps the call on a path of its own.
 */
#define KPATCH_PRINTK(_fmt, ...)						\
	({									\
		if (jiffies)							\
			printk(_fmt, ##__VA_ARGS__);				\
	})

#endif /* KPATCH_MACROS_H */
