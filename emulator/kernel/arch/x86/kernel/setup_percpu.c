// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU areas.  Before start_kernel the machine has allocated one area
 * per CPU (a copy of the .data..percpu image at __per_cpu_load), written
 * their base addresses to __per_cpu_offset[] and the CPU count to
 * nr_cpu_ids, and set each CPU's %gs base to its area.  The kernel fills
 * in the per-CPU bookkeeping variables.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/cpu.h>

unsigned long __per_cpu_offset[NR_CPUS] __read_mostly;
EXPORT_SYMBOL(__per_cpu_offset);

unsigned int nr_cpu_ids __read_mostly = 1;
EXPORT_SYMBOL(nr_cpu_ids);

DEFINE_PER_CPU(unsigned long, this_cpu_off);
EXPORT_SYMBOL(this_cpu_off);

DEFINE_PER_CPU(int, cpu_number);
EXPORT_SYMBOL(cpu_number);

/* Written by the machine on every task switch (asm/current.h). */
DEFINE_PER_CPU(struct task_struct *, current_task);
EXPORT_SYMBOL(current_task);

void __init setup_per_cpu_areas(void)
{
	int cpu;

	if (nr_cpu_ids == 0 || nr_cpu_ids > NR_CPUS)
		panic("nr_cpu_ids %u: must be 1..%d", nr_cpu_ids, NR_CPUS);
	for_each_possible_cpu(cpu) {
		per_cpu(this_cpu_off, cpu) = per_cpu_offset(cpu);
		per_cpu(cpu_number, cpu) = cpu;
	}
}
