// SPDX-License-Identifier: GPL-2.0
/*
 * The special-section entry sizes of the configured kernel, printed by
 * kbuild's DEFINE() as "->NAME VALUE" lines of sizes.s (make M=DIR sizes.s):
 * elfdiff/crossarch_test.go passes them to the diff as kpatch-build does.
 */
#include <linux/kbuild.h>
#include <linux/bug.h>
#include <linux/jump_label.h>
#include <linux/extable.h>
#include <linux/uaccess.h>
#ifndef __powerpc__
#include <asm/alternative.h>
#endif

void kpatch_sizes(void);

void kpatch_sizes(void)
{
	DEFINE(BUG_STRUCT_SIZE, sizeof(struct bug_entry));
	DEFINE(JUMP_STRUCT_SIZE, sizeof(struct jump_entry));
	DEFINE(EX_STRUCT_SIZE, sizeof(struct exception_table_entry));
#ifndef __powerpc__
	DEFINE(ALT_STRUCT_SIZE, sizeof(struct alt_instr));
#endif
}
