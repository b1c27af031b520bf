/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_JUMP_LABEL_H
#define _LINUX_JUMP_LABEL_H

#include <linux/types.h>
#include <linux/atomic.h>

/*
 * Static keys (Linux 6.1 API subset).  struct static_key is 16 bytes:
 * the machine reads "enabled" (offset 0, s32, 0 = disabled) when the
 * kernel issues HC_JUMP_LABEL for the key.
 */
struct static_key {
	atomic_t enabled;
	union {
		unsigned long type;	/* JUMP_TYPE_* */
		void *entries;
	};
};

struct jump_entry {
	s32 code;
	s32 target;
	long key;	/* key address - &key, bit 0 = branch */
};

#define JUMP_TYPE_FALSE		0UL
#define JUMP_TYPE_TRUE		1UL
#define JUMP_TYPE_MASK		3UL

#include <asm/jump_label.h>

struct static_key_true {
	struct static_key key;
};

struct static_key_false {
	struct static_key key;
};

#define STATIC_KEY_INIT_TRUE					\
	{ .enabled = { 1 }, { .type = JUMP_TYPE_TRUE } }
#define STATIC_KEY_INIT_FALSE					\
	{ .enabled = { 0 }, { .type = JUMP_TYPE_FALSE } }

#define STATIC_KEY_TRUE_INIT  (struct static_key_true) { .key = STATIC_KEY_INIT_TRUE }
#define STATIC_KEY_FALSE_INIT (struct static_key_false){ .key = STATIC_KEY_INIT_FALSE }

#define DEFINE_STATIC_KEY_TRUE(name)	\
	struct static_key_true name = STATIC_KEY_TRUE_INIT
#define DEFINE_STATIC_KEY_FALSE(name)	\
	struct static_key_false name = STATIC_KEY_FALSE_INIT
#define DECLARE_STATIC_KEY_TRUE(name)	extern struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name)	extern struct static_key_false name

extern void __static_branch_bad_type(void);	/* never defined */

#define static_branch_likely(x)						\
({									\
	bool branch;							\
	if (__builtin_types_compatible_p(__typeof__(*x), struct static_key_true))	\
		branch = !arch_static_branch(&(x)->key, true);		\
	else if (__builtin_types_compatible_p(__typeof__(*x), struct static_key_false)) \
		branch = !arch_static_branch_jump(&(x)->key, true);	\
	else								\
		branch = (__static_branch_bad_type(), false);		\
	likely(branch);							\
})

#define static_branch_unlikely(x)					\
({									\
	bool branch;							\
	if (__builtin_types_compatible_p(__typeof__(*x), struct static_key_true))	\
		branch = arch_static_branch_jump(&(x)->key, false);	\
	else if (__builtin_types_compatible_p(__typeof__(*x), struct static_key_false)) \
		branch = arch_static_branch(&(x)->key, false);		\
	else								\
		branch = (__static_branch_bad_type(), false);		\
	unlikely(branch);						\
})

/* kernel/jump_label.c */
void static_key_enable(struct static_key *key);
void static_key_disable(struct static_key *key);
bool static_key_enabled_raw(struct static_key *key);

#define static_branch_enable(x)		static_key_enable(&(x)->key)
#define static_branch_disable(x)	static_key_disable(&(x)->key)
#define static_key_enabled(x)		static_key_enabled_raw(&(x)->key)

#endif /* _LINUX_JUMP_LABEL_H */
