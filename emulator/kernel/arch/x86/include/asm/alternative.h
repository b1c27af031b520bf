/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_ALTERNATIVE_H
#define _ASM_X86_ALTERNATIVE_H

#include <linux/types.h>
#include <linux/stringify.h>
#include <asm/asm.h>

/*
 * LOCK_PREFIX records the address of each lock prefix in .smp_locks
 * (4 bytes per entry: s32 lock prefix - &entry), as Linux does so that a
 * uniprocessor kernel can turn them into NOPs.  The target leaves them.
 */
#define LOCK_PREFIX_HERE				\
		".pushsection .smp_locks,\"a\"\n"	\
		".balign 4\n"				\
		".long 671f - .\n" /* offset */		\
		".popsection\n"				\
		"671:"

#define LOCK_PREFIX LOCK_PREFIX_HERE "\n\tlock; "

/*
 * Alternatives, with Linux 6.1's 12-byte struct alt_instr:
 *
 *	s32 instr_offset	original instruction - &entry->instr_offset
 *	s32 repl_offset		replacement - &entry->repl_offset
 *	u16 cpuid		X86_FEATURE_* (word * 32 + bit);
 *				bit 15 (ALT_FLAG_NOT) inverts the test
 *	u8  instrlen		length of the original, padded with 0x90 to
 *				at least replacementlen
 *	u8  replacementlen	length of the replacement in .altinstr_replacement
 *
 * At boot, before start_kernel, the machine walks __alt_instructions ..
 * __alt_instructions_end and, for every entry whose feature the emulated
 * CPU has (or lacks, with ALT_FLAG_NOT), copies replacementlen bytes from
 * the replacement over the original and fills the rest of instrlen with
 * 0x90.  Replacements used by this kernel are position independent.
 */
struct alt_instr {
	s32 instr_offset;
	s32 repl_offset;
	u16 cpuid;
	u8  instrlen;
	u8  replacementlen;
} __packed;

#define ALT_FLAG_NOT		(1 << 15)
#define ALT_NOT(feature)	((feature) | ALT_FLAG_NOT)

#define b_replacement(num)	"664"#num
#define e_replacement(num)	"665"#num

#define alt_end_marker		"663"
#define alt_slen		"662b-661b"
#define alt_total_slen		alt_end_marker"b-661b"
#define alt_rlen(num)		e_replacement(num)"f-"b_replacement(num)"f"

#define OLDINSTR(oldinstr, num)						\
	"# ALT: oldnstr\n"						\
	"661:\n\t" oldinstr "\n662:\n"					\
	"# ALT: padding\n"						\
	".skip -(((" alt_rlen(num) ")-(" alt_slen ")) > 0) * "		\
		"((" alt_rlen(num) ")-(" alt_slen ")),0x90\n"		\
	alt_end_marker ":\n"

#define ALTINSTR_ENTRY(feature, num)					      \
	" .long 661b - .\n"				/* label           */ \
	" .long " b_replacement(num)"f - .\n"		/* new instruction */ \
	" .word " __stringify(feature) "\n"		/* feature bit     */ \
	" .byte " alt_total_slen "\n"			/* source len      */ \
	" .byte " alt_rlen(num) "\n"			/* replacement len */

#define ALTINSTR_REPLACEMENT(newinstr, num)		/* replacement */	\
	"# ALT: replacement " #num "\n"						\
	b_replacement(num)":\n\t" newinstr "\n" e_replacement(num) ":\n"

#define ALTERNATIVE(oldinstr, newinstr, feature)			\
	OLDINSTR(oldinstr, 1)						\
	".pushsection .altinstructions,\"a\"\n"				\
	ALTINSTR_ENTRY(feature, 1)					\
	".popsection\n"							\
	".pushsection .altinstr_replacement, \"ax\"\n"			\
	ALTINSTR_REPLACEMENT(newinstr, 1)				\
	".popsection\n"

/* alternative("old", "new", X86_FEATURE_x): no inputs or outputs. */
#define alternative(oldinstr, newinstr, feature)			\
	asm_inline volatile(ALTERNATIVE(oldinstr, newinstr, feature) : : : "memory")

/* With one output and any inputs, as in Linux. */
#define alternative_io(oldinstr, newinstr, feature, output, input...)	\
	asm_inline volatile(ALTERNATIVE(oldinstr, newinstr, feature)	\
		: output : input)

#endif /* _ASM_X86_ALTERNATIVE_H */
