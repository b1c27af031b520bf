/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_JUMP_LABEL_H
#define _ASM_X86_JUMP_LABEL_H

#include <linux/stringify.h>
#include <asm/asm.h>

/*
 * Static branch sites, as on x86-64 Linux: each site is a 5-byte
 * instruction, either the NOP "0f 1f 44 00 00" or "jmp rel32" (e9 ...),
 * with a 16-byte __jump_table entry
 *
 *	s32 code	site - &entry->code
 *	s32 target	jump target - &entry->target
 *	s64 key		(&static_key - &entry->key) | branch
 *
 * bit 0 of the key word is the branch default (1 = "likely", the site
 * jumps when the key is disabled); bit 1 is 0 (no init-section sites).
 * A site must hold the jmp exactly when  enabled(key) != branch.
 * The compiler emits the correct initial form for the key's initial
 * value; static_key_enable()/disable() ask the machine (HC_JUMP_LABEL)
 * to rewrite every site of the key, in vmlinux and in loaded modules.
 */
#define JUMP_LABEL_NOP_SIZE	5
#define BYTES_NOP5		0x0f,0x1f,0x44,0x00,0x00

#define JUMP_TABLE_ENTRY				\
	".pushsection __jump_table,  \"aw\" \n\t"	\
	_ASM_ALIGN "\n\t"				\
	".long 1b - . \n\t"				\
	".long %l[l_yes] - . \n\t"			\
	_ASM_PTR "%c0 + %c1 - .\n\t"			\
	".popsection \n\t"

#ifndef __ASSEMBLY__

struct static_key;

static __always_inline bool arch_static_branch(struct static_key * const key, const bool branch)
{
	asm_volatile_goto("1:"
		".byte " __stringify(BYTES_NOP5) "\n\t"
		JUMP_TABLE_ENTRY
		: : "i" (key), "i" (branch) : : l_yes);

	return false;
l_yes:
	return true;
}

static __always_inline bool arch_static_branch_jump(struct static_key * const key, const bool branch)
{
	asm_volatile_goto("1:"
		".byte 0xe9\n\t .long %l[l_yes] - 2f\n\t"
		"2:\n\t"
		JUMP_TABLE_ENTRY
		: : "i" (key), "i" (branch) : : l_yes);

	return false;
l_yes:
	return true;
}

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_X86_JUMP_LABEL_H */
