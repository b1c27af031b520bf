// SPDX-License-Identifier: GPL-2.0
/*
 * Secondary CPUs: the machine starts each one at secondary_startup_64
 * after CPU 0 has issued HC_BOOT_DONE.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/percpu.h>
#include <linux/cpu.h>

asmlinkage __visible void __noreturn start_secondary(void)
{
	pr_info("smp: CPU %d online, idle task %d\n", smp_processor_id(),
		current->pid);
	cpu_startup_entry();
}
