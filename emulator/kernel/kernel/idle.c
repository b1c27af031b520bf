// SPDX-License-Identifier: GPL-2.0
/*
 * The idle loop.  CPU 0's boot task ends in it after start_kernel(), the
 * other CPUs start in it; HC_IDLE tells the machine this CPU has nothing
 * to run, and returns when the idle task is scheduled again.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/percpu.h>
#include <linux/cpu.h>
#include <asm/hypercall.h>

DEFINE_PER_CPU(unsigned long, idle_calls);

static noinline void arch_cpu_idle(void)
{
	hypercall0(HC_IDLE);
}

static noinline void do_idle(void)
{
	arch_cpu_idle();
	this_cpu_inc(idle_calls);
}

void __noreturn cpu_startup_entry(void)
{
	current->flags |= PF_IDLE;
	for (;;)
		do_idle();
}
