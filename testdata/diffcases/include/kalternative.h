/*
 * Alternatives, x86-64 Linux 6.3+ layout (packed):
 *
 *   struct alt_instr {        offset size
 *       s32 instr_offset;     0      4   PC32 -> original instruction
 *       s32 repl_offset;      4      4   PC32 -> .altinstr_replacement
 *       u32 ft_flags;         8      4   feature bit | flags (no reloc)
 *       u8  instrlen;         12     1
 *       u8  replacementlen;   13     1
 *   } __packed;               => ALT_STRUCT_SIZE=14
 *
 * The original instruction is padded with 0x90 up to the replacement size.
 */
#ifndef KCASE_ALTERNATIVE_H
#define KCASE_ALTERNATIVE_H
#include "kcompiler.h"

#define X86_FEATURE_XMM2  (0 * 32 + 26)
#define X86_FEATURE_ERMS  (9 * 32 + 9)

#define __kcase_alt_len_diff "((6651f - 6641f) - (662b - 661b))"

#define ALTERNATIVE(oldinstr, newinstr, feature)				\
	"661:\n\t" oldinstr "\n662:\n"						\
	"\t.skip -((" __kcase_alt_len_diff ") > 0) * " __kcase_alt_len_diff ", 0x90\n" \
	"663:\n"								\
	"\t.pushsection .altinstructions, \"a\"\n"				\
	"\t.long 661b - .\n"							\
	"\t.long 6641f - .\n"							\
	"\t.4byte " __kstr(feature) "\n"					\
	"\t.byte 663b - 661b\n"							\
	"\t.byte 6651f - 6641f\n"						\
	"\t.popsection\n"							\
	"\t.pushsection .altinstr_replacement, \"ax\"\n"			\
	"6641:\n\t" newinstr "\n6651:\n"					\
	"\t.popsection\n"

#define alternative(oldinstr, newinstr, feature) \
	asm volatile(ALTERNATIVE(oldinstr, newinstr, feature) : : : "memory")

/* Full barrier: a locked add on old CPUs, mfence with SSE2. */
#define mb() alternative("lock; addl $0,-4(%%rsp)", "mfence", X86_FEATURE_XMM2)

#endif
