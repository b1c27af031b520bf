// SPDX-License-Identifier: GPL-2.0
/*
 * start_kernel: CPU 0 arrives here from startup_64 on init_stack, with
 * vmlinux loaded, alternatives applied and per-CPU areas allocated by the
 * machine.  It sets up the subsystems, starts the kernel threads, tells
 * the machine the boot is done, and becomes CPU 0's idle task.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/start_kernel.h>
#include <linux/utsname.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/proc_fs.h>
#include <linux/workqueue.h>
#include <linux/cpu.h>
#include <asm/hypercall.h>

#define DEFAULT_COMMAND_LINE	"console=hvc0"

char boot_command_line[COMMAND_LINE_SIZE] __initdata;
char saved_command_line[COMMAND_LINE_SIZE];

static void __init setup_command_line(void)
{
	const char *cmdline = boot_command_line;

	if (!cmdline[0])
		cmdline = DEFAULT_COMMAND_LINE;
	strscpy(saved_command_line, cmdline, sizeof(saved_command_line));
}

/*
 * Not __init: it stays on CPU 0's stack forever, below the idle loop,
 * as in Linux.
 */
static noinline void __noreturn rest_init(void)
{
	workqueue_init();
	long_sleeper_init();
	pr_info("boot: done, %u CPU(s)\n", nr_cpu_ids);
	hypercall0(HC_BOOT_DONE);
	cpu_startup_entry();
}

asmlinkage __visible void __init __noreturn start_kernel(void)
{
	setup_per_cpu_areas();
	printk(KERN_NOTICE "%s", linux_banner);
	setup_command_line();
	pr_notice("Kernel command line: %s\n", saved_command_line);
	kmalloc_init();
	sched_init();
	proc_root_init();
	rest_init();
}
