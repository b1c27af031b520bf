// SPDX-License-Identifier: GPL-2.0
/*
 * CPU features and the alternative chosen from them.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>
#include <asm/alternative.h>
#include <asm/cpufeature.h>

/* Filled by the machine before start_kernel. */
struct cpuinfo_x86 boot_cpu_data __read_mostly;
EXPORT_SYMBOL(boot_cpu_data);

/*
 * 0 as compiled; the machine's boot code replaces the mov with the one
 * from .altinstr_replacement when the CPU has POPCNT, making this 1.
 */
static noinline int popcnt_alternative(void)
{
	int v;

	asm volatile(ALTERNATIVE("movl $0, %0", "movl $1, %0", X86_FEATURE_POPCNT)
		     : "=r" (v));
	return v;
}

static const struct {
	unsigned int bit;
	const char *name;
} feature_names[] = {
	{ X86_FEATURE_XMM4_2,		"sse4_2" },
	{ X86_FEATURE_POPCNT,		"popcnt" },
	{ X86_FEATURE_HYPERVISOR,	"hypervisor" },
	{ X86_FEATURE_ERMS,		"erms" },
};

static int cpuinfo_proc_show(struct seq_file *m, void *v)
{
	unsigned int i;

	seq_printf(m, "cpus\t\t: %u\n", nr_cpu_ids);
	seq_puts(m, "flags\t\t:");
	for (i = 0; i < ARRAY_SIZE(feature_names); i++)
		if (boot_cpu_has(feature_names[i].bit))
			seq_printf(m, " %s", feature_names[i].name);
	seq_putc(m, '\n');
	seq_printf(m, "alternative\t: %s\n",
		   popcnt_alternative() ? "popcnt" : "generic");
	return 0;
}

long sys_cpuinfo(char __user *buf, unsigned long len)
{
	return proc_read_to_user(cpuinfo_proc_show, buf, len);
}
