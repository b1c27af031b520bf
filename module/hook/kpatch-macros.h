/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatch-macros.h: the patch-author API of kpatch-build, under kpatch's
 * names, for patches written for kpatch to build unchanged.
 *
 * A patch includes this header ("#include \"kpatch-macros.h\""; it is on
 * the include path of the original and the patched build, beside
 * kpatch-syscall.h, which it includes) to steer the diff engine and to run
 * code when the patch is applied or removed.  The macros place small
 * records in sections whose names the diff engine knows:
 *
 *   .kpatch.ignore.sections          a pointer to a section name: changes in
 *                                    that section are ignored
 *   .kpatch.ignore.functions         a pointer to a function: its changes are
 *                                    ignored
 *   .kpatch.ignore.statics           a pointer to a static local variable's
 *                                    name: the patched functions may stop
 *                                    using it
 *   .kpatch.force                    a pointer to a function patched without
 *                                    the livepatch stack check (only where
 *                                    the kernel supports it; Linux's
 *                                    livepatch has no per-function force)
 *   .kpatch.callbacks.pre_patch      { callback, object name }, 16 bytes on
 *   .kpatch.callbacks.post_patch     64-bit machines; the object name is
 *   .kpatch.callbacks.pre_unpatch    left NULL here and filled in by the
 *   .kpatch.callbacks.post_unpatch   diff engine with the patched object
 *
 * Every callback gets the patch_object (Linux's struct klp_object) of the
 * object, vmlinux or a module, its source file belongs to; a pre-patch
 * callback returning non-zero stops the patch from being applied to that
 * object.  One callback of each kind per object.
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
#include <linux/static_call.h>
#include <linux/livepatch.h>

#include "kpatch-syscall.h"

/* The object a callback is called for: vmlinux or a module. */
typedef struct klp_object patch_object;

/* The four callback signatures. */
typedef int (*kpatch_pre_patch_call_t)(patch_object *obj);
typedef void (*kpatch_post_patch_call_t)(patch_object *obj);
typedef void (*kpatch_pre_unpatch_call_t)(patch_object *obj);
typedef void (*kpatch_post_unpatch_call_t)(patch_object *obj);

/* The record of one callback; objname is filled in by the diff engine. */
struct kpatch_pre_patch_callback {
	kpatch_pre_patch_call_t fn;
	char *objname;
};

struct kpatch_post_patch_callback {
	kpatch_post_patch_call_t fn;
	char *objname;
};

struct kpatch_pre_unpatch_callback {
	kpatch_pre_unpatch_call_t fn;
	char *objname;
};

struct kpatch_post_unpatch_callback {
	kpatch_post_unpatch_call_t fn;
	char *objname;
};

/* KPATCH_IGNORE_SECTION("name"): ignore changes in section name. */
#define KPATCH_IGNORE_SECTION(_sec)						\
	char *__UNIQUE_ID(kpatch_ignore_section_)				\
		__section(".kpatch.ignore.sections") = (_sec)

/* KPATCH_IGNORE_FUNCTION(fn): ignore changes in fn (e.g. line numbers). */
#define KPATCH_IGNORE_FUNCTION(_fn)						\
	void *__kpatch_ignore_func_##_fn					\
		__section(".kpatch.ignore.functions") = (_fn)

/*
 * KPATCH_IGNORE_STATIC("name"): the patched functions may drop their
 * references to the static local variable name (the one of the running
 * kernel stays where it is, unused by them).  Without it the diff engine
 * refuses a patch that removes a reference to a static local, since the
 * variable's value would be lost for the code that still needs it.
 */
#define KPATCH_IGNORE_STATIC(_static)						\
	char *__UNIQUE_ID(kpatch_ignore_static_)				\
		__section(".kpatch.ignore.statics") = (_static)

/*
 * KPATCH_FORCE_UNSAFE(fn): patch fn even while it is on a task's stack.
 * Only safe when the old and new versions may run at the same time.
 */
#define KPATCH_FORCE_UNSAFE(_fn)						\
	void *__kpatch_force_func_##_fn __section(".kpatch.force") = (_fn)

/*
 * __KPATCH_CALLBACK(kind, fn): one record of kind in its section.  The
 * inline function only makes the compiler check fn's signature.
 */
#define __KPATCH_CALLBACK(_kind, _fn)						\
	static inline kpatch_##_kind##_call_t __kpatch_check_##_kind(void)	\
	{									\
		return _fn;							\
	}									\
	static struct kpatch_##_kind##_callback __kpatch_##_kind##_record	\
		__section(".kpatch.callbacks." #_kind) __used = {		\
		.fn = _fn,							\
		.objname = NULL,						\
	}

/* int fn(patch_object *): before the object is patched; may refuse. */
#define KPATCH_PRE_PATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(pre_patch, _fn)
/* void fn(patch_object *): after the object is patched everywhere. */
#define KPATCH_POST_PATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(post_patch, _fn)
/* void fn(patch_object *): before the object is unpatched. */
#define KPATCH_PRE_UNPATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(pre_unpatch, _fn)
/* void fn(patch_object *): after the object is unpatched everywhere. */
#define KPATCH_POST_UNPATCH_CALLBACK(_fn)	__KPATCH_CALLBACK(post_unpatch, _fn)

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
	static void __kpatch_load_hook_##_fn(patch_object *obj)		\
	{									\
		void (*hook)(void) = (_fn);					\
		hook();								\
	}									\
	KPATCH_POST_PATCH_CALLBACK(__kpatch_load_hook_##_fn)

#define KPATCH_UNLOAD_HOOK(_fn)							\
	static void __kpatch_unload_hook_##_fn(patch_object *obj)		\
	{									\
		void (*hook)(void) = (_fn);					\
		hook();								\
	}									\
	KPATCH_PRE_UNPATCH_CALLBACK(__kpatch_unload_hook_##_fn)

/*
 * KPATCH_PRINTK(fmt, ...): printk without making the calling path cold.
 * printk is declared __cold, so gcc may move the code around a call into
 * .text.unlikely or stop inlining its callees, which changes functions the
 * patch did not mean to change; the always-true test on jiffies keeps the
 * call on a path of its own.
 */
#define KPATCH_PRINTK(_fmt, ...)						\
	({									\
		if (jiffies)							\
			printk(_fmt, ##__VA_ARGS__);				\
	})

/*
 * KPATCH_PRINTK_DEFERRED(fmt, ...): the same for printk_deferred, which
 * only queues the message (irq_work) and is safe where printk could
 * deadlock, such as under the scheduler's run-queue lock.
 */
#define KPATCH_PRINTK_DEFERRED(_fmt, ...)					\
	({									\
		if (jiffies)							\
			printk_deferred(_fmt, ##__VA_ARGS__);			\
	})

/*
 * KPATCH_STATIC_CALL(name)(args...): call the static call name through a
 * plain function pointer, the one its key holds now, instead of
 * static_call(name)(args...).  A static call site is patched in place by
 * the kernel when the key changes, and a live patch module cannot have
 * call sites of a key that another module defines (the diff engine
 * refuses them); the indirect call needs only the key, which a livepatch
 * relocation resolves.
 */
#define KPATCH_STATIC_CALL(name)						\
	((typeof(&STATIC_CALL_TRAMP(name)))static_call_query(name))

#endif /* KPATCH_MACROS_H */
