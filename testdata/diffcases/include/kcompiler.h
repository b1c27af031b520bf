/* Minimal kernel-like compiler helpers for the diff-engine test cases. */
#ifndef KCASE_COMPILER_H
#define KCASE_COMPILER_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed int s32;
typedef signed long s64;
typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define __section(s)      __attribute__((__section__(s)))
#define __used            __attribute__((__used__))
#define __aligned(n)      __attribute__((__aligned__(n)))
#define noinline          __attribute__((__noinline__))
#define __always_inline   inline __attribute__((__always_inline__))
#define __cold            __attribute__((__cold__))
#define notrace           __attribute__((__no_instrument_function__))
#define __user

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier()   asm volatile("" : : : "memory")

#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define __kstr1(x) #x
#define __kstr(x)  __kstr1(x)
#define __kcat1(a, b) a##b
#define __kcat(a, b)  __kcat1(a, b)
#define __UNIQUE_ID(prefix) __kcat(__kcat(__UNIQUE_ID_, prefix), __COUNTER__)

#endif
