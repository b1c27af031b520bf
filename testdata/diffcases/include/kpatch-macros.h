/*
 * The kpatch patch-author macros, shaped like kpatch's
 * kmod/patch/kpatch-macros.h (written independently for these tests).
 *
 *   .kpatch.ignore.functions   one pointer (8 bytes) to the function
 *   .kpatch.ignore.sections    one pointer (8 bytes) to a string naming
 *                              the section
 *   .kpatch.ignore.statics     one pointer (8 bytes) to a string naming
 *                              a static local variable
 *
 * KPATCH_STATIC_CALL(name) calls a static call of kstatic_call.h through
 * the function its key holds (no static call site).
 *   .kpatch.force              one pointer (8 bytes) to the function
 *   .kpatch.callbacks.{pre,post}_{patch,unpatch}
 *                              one static struct { fn; objname; } (16 bytes,
 *                              objname NULL, filled by create-diff-object)
 */
#ifndef KCASE_KPATCH_MACROS_H
#define KCASE_KPATCH_MACROS_H
#include "kcompiler.h"

struct klp_object;

#define KPATCH_IGNORE_SECTION(_sec)						\
	char *__UNIQUE_ID(kpatch_ignore_section_)				\
		__section(".kpatch.ignore.sections") = _sec

#define KPATCH_IGNORE_FUNCTION(_fn)						\
	void *__kpatch_ignore_func_##_fn					\
		__section(".kpatch.ignore.functions") = _fn

#define KPATCH_IGNORE_STATIC(_static)						\
	char *__UNIQUE_ID(kpatch_ignore_static_)				\
		__section(".kpatch.ignore.statics") = _static

/* KPATCH_STATIC_CALL(name)(): the call through the key (kstatic_call.h). */
#define KPATCH_STATIC_CALL(name)						\
	((__typeof__(&__SCT__##name))static_call_query(name))

#define KPATCH_FORCE_UNSAFE(_fn)						\
	void *__kpatch_force_func_##_fn __section(".kpatch.force") = _fn

struct kpatch_pre_patch_callback {
	int (*fn)(struct klp_object *obj);
	char *objname;
};
struct kpatch_post_patch_callback {
	void (*fn)(struct klp_object *obj);
	char *objname;
};
struct kpatch_pre_unpatch_callback {
	void (*fn)(struct klp_object *obj);
	char *objname;
};
struct kpatch_post_unpatch_callback {
	void (*fn)(struct klp_object *obj);
	char *objname;
};

/* The inline helpers only type-check the callback's signature. */
#define KPATCH_PRE_PATCH_CALLBACK(_fn)						\
	static inline int (*__kpatch_check_pre_patch(void))(struct klp_object *) \
	{ return _fn; }								\
	static struct kpatch_pre_patch_callback kpatch_pre_patch_data		\
		__section(".kpatch.callbacks.pre_patch") __used = {		\
		.fn = _fn, .objname = NULL }

#define KPATCH_POST_PATCH_CALLBACK(_fn)						\
	static inline void (*__kpatch_check_post_patch(void))(struct klp_object *) \
	{ return _fn; }								\
	static struct kpatch_post_patch_callback kpatch_post_patch_data	\
		__section(".kpatch.callbacks.post_patch") __used = {		\
		.fn = _fn, .objname = NULL }

#define KPATCH_PRE_UNPATCH_CALLBACK(_fn)					\
	static inline void (*__kpatch_check_pre_unpatch(void))(struct klp_object *) \
	{ return _fn; }								\
	static struct kpatch_pre_unpatch_callback kpatch_pre_unpatch_data	\
		__section(".kpatch.callbacks.pre_unpatch") __used = {		\
		.fn = _fn, .objname = NULL }

#define KPATCH_POST_UNPATCH_CALLBACK(_fn)					\
	static inline void (*__kpatch_check_post_unpatch(void))(struct klp_object *) \
	{ return _fn; }								\
	static struct kpatch_post_unpatch_callback kpatch_post_unpatch_data	\
		__section(".kpatch.callbacks.post_unpatch") __used = {		\
		.fn = _fn, .objname = NULL }

#endif
