/*
 * Static keys via asm goto, x86-64 style.
 *
 *   struct jump_entry {   offset size
 *       s32 code;         0      4   PC32 -> the 5-byte nop
 *       s32 target;       4      4   PC32 -> the branch target
 *       long key;         8      8   PC64 -> the key (+1 if default true)
 *   };                    => JUMP_STRUCT_SIZE=16
 */
#ifndef KCASE_JUMP_LABEL_H
#define KCASE_JUMP_LABEL_H
#include "kcompiler.h"

struct static_key { int enabled; };
struct static_key_false { struct static_key key; };
struct static_key_true { struct static_key key; };

struct jump_entry {
	s32 code;
	s32 target;
	long key;
};

#define DEFINE_STATIC_KEY_FALSE(name) struct static_key_false name = { { 0 } }
#define DEFINE_STATIC_KEY_TRUE(name)  struct static_key_true name = { { 1 } }
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name

static __always_inline bool arch_static_branch(struct static_key *key, bool branch)
{
	asm goto("1:\t.byte 0x0f,0x1f,0x44,0x00,0x00\n"
		 "\t.pushsection __jump_table, \"aw\"\n"
		 "\t.balign 8\n"
		 "\t.long 1b - ., %l[l_yes] - .\n"
		 "\t.quad %c0 + %c1 - .\n"
		 "\t.popsection\n"
		 : : "i" (key), "i" (branch) : : l_yes);
	return false;
l_yes:
	return true;
}

#define static_branch_unlikely(x) unlikely(arch_static_branch(&(x)->key, false))
#define static_branch_likely(x)   likely(!arch_static_branch(&(x)->key, true))

#endif
