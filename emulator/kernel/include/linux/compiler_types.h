/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_COMPILER_TYPES_H
#define _LINUX_COMPILER_TYPES_H

/* Attributes, as in the kernel's compiler_types.h / compiler_attributes.h. */
#define __always_inline		inline __attribute__((__always_inline__))
#define noinline		__attribute__((__noinline__))
#define __noreturn		__attribute__((__noreturn__))
#define __cold			__attribute__((__cold__))
#define __hot			__attribute__((__hot__))
#define __used			__attribute__((__used__))
#define __maybe_unused		__attribute__((__unused__))
#define __aligned(x)		__attribute__((__aligned__(x)))
#define __packed		__attribute__((__packed__))
#define __section(s)		__attribute__((__section__(s)))
#define __printf(a, b)		__attribute__((__format__(printf, a, b)))
#define __visible		__attribute__((__externally_visible__))
#define __weak			__attribute__((__weak__))
#define __alias(sym)		__attribute__((__alias__(#sym)))
#define __copy(symbol)		__attribute__((__copy__(symbol)))
#define __must_check		__attribute__((__warn_unused_result__))
#define __pure			__attribute__((__pure__))
#define notrace			__attribute__((__no_instrument_function__))
#define asmlinkage

/* Address-space annotations (documentation only: no sparse here). */
#define __user
#define __kernel
#define __iomem
#define __percpu
#define __rcu

#define asm_volatile_goto(x...)	asm goto(x)
#define asm_inline		asm __inline

#define ___PASTE(a, b)		a##b
#define __PASTE(a, b)		___PASTE(a, b)
#define __UNIQUE_ID(prefix)	__PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)

#define barrier()		__asm__ __volatile__("" : : : "memory")

#endif /* _LINUX_COMPILER_TYPES_H */
