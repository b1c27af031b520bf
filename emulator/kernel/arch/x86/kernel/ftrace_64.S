/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every C function starts with "call __fentry__" (-pg -mfentry), listed
 * in __mcount_loc (-mrecord-mcount).  At boot the machine's ftrace turns
 * each of those calls into a 5-byte NOP (0f 1f 44 00 00) and later
 * redirects the ones it hooks; until then __fentry__ simply returns.
 */
#include <asm/linkage.h>
#include <asm/export.h>

	.text

SYM_FUNC_START(__fentry__)
	ret
SYM_FUNC_END(__fentry__)
EXPORT_SYMBOL(__fentry__)

	.section .note.GNU-stack, "", @progbits
