/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_PERCPU_H
#define _LINUX_PERCPU_H

#include <linux/types.h>
#include <asm/percpu.h>

#define NR_CPUS		16

#define PER_CPU_SECTION	".data..percpu"

#ifndef MODULE
#define DECLARE_PER_CPU(type, name)					\
	extern __section(PER_CPU_SECTION) __typeof__(type) name
#define DEFINE_PER_CPU(type, name)					\
	__section(PER_CPU_SECTION) __typeof__(type) name
#else
/* The target's module loader does not allocate module per-CPU areas. */
#define DECLARE_PER_CPU(type, name)					\
	extern __section(PER_CPU_SECTION) __typeof__(type) name
#define DEFINE_PER_CPU(type, name)					\
	_Static_assert(0, "DEFINE_PER_CPU in a module is not supported")
#endif

/*
 * __per_cpu_offset[cpu] is the base address of CPU cpu's per-CPU area (the
 * machine allocates the areas and fills the array before start_kernel);
 * this_cpu_off is each area's own base, so this_cpu_ptr() needs one %gs
 * read.  Both as in x86-64 Linux.
 */
extern unsigned long __per_cpu_offset[NR_CPUS];
extern unsigned int nr_cpu_ids;
DECLARE_PER_CPU(unsigned long, this_cpu_off);
DECLARE_PER_CPU(int, cpu_number);

#define per_cpu_offset(cpu)	(__per_cpu_offset[(cpu)])

#define per_cpu_ptr(ptr, cpu)						\
	((__typeof__(ptr))((unsigned long)(ptr) + per_cpu_offset(cpu)))
#define per_cpu(var, cpu)	(*per_cpu_ptr(&(var), (cpu)))

#define this_cpu_ptr(ptr)						\
	((__typeof__(ptr))((unsigned long)(ptr) + this_cpu_read(this_cpu_off)))

#define for_each_possible_cpu(cpu)					\
	for ((cpu) = 0; (cpu) < (int)nr_cpu_ids; (cpu)++)

#define smp_processor_id()	this_cpu_read(cpu_number)

#endif /* _LINUX_PERCPU_H */
