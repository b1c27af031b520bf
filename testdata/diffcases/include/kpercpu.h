/*
 * Per-CPU variables live in the shared (never per-symbol) .data..percpu
 * section and are accessed %gs-relative.
 */
#ifndef KCASE_PERCPU_H
#define KCASE_PERCPU_H
#include "kcompiler.h"

#define DEFINE_PER_CPU(type, name) __section(".data..percpu") __typeof__(type) name
#define DECLARE_PER_CPU(type, name) extern __section(".data..percpu") __typeof__(type) name

#define this_cpu_read_4(var) ({					\
	unsigned int __v;					\
	asm volatile("movl %%gs:%1, %0" : "=r" (__v) : "m" (var)); \
	__v;							\
})

#define this_cpu_add_4(var, val)				\
	asm volatile("addl %1, %%gs:%0" : "+m" (var) : "ri" ((unsigned int)(val)))

#endif
