/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_COMPILER_H
#define _LINUX_COMPILER_H

#include <linux/compiler_types.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val)	do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)

/*
 * Placed after a call, keeps gcc from turning it into a tail call, so
 * that the caller stays on the stack of a task sleeping in the callee.
 */
#define prevent_tail_call_optimization()	barrier()

/*
 * Keep a symbol referenced so that --gc-sections-style discards and the
 * optimiser cannot drop it (used by EXPORT_SYMBOL).
 */
#define ___ADDRESSABLE(sym, __attrs)					\
	static void * __used __attrs					\
		__UNIQUE_ID(__PASTE(__addressable_, sym)) = (void *)&sym;
#define __ADDRESSABLE(sym)						\
	___ADDRESSABLE(sym, __section(".discard.addressable"))

#endif /* _LINUX_COMPILER_H */
