/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_ATOMIC_H
#define _LINUX_ATOMIC_H

#include <asm/atomic.h>

#define atomic_read(v)			arch_atomic_read(v)
#define atomic_set(v, i)		arch_atomic_set(v, i)
#define atomic_inc(v)			arch_atomic_inc(v)
#define atomic_dec(v)			arch_atomic_dec(v)
#define atomic_add_return(i, v)		arch_atomic_add_return(i, v)
#define atomic_inc_return(v)		arch_atomic_add_return(1, v)
#define atomic_dec_return(v)		arch_atomic_add_return(-1, v)
#define atomic_cmpxchg(v, o, n)		arch_atomic_cmpxchg(v, o, n)
#define atomic_xchg(v, n)		arch_atomic_xchg(v, n)

#endif
