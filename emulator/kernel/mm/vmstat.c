// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/vmstat-like counters.  show_val_kb() has the same name as the
 * helper in fs/proc/meminfo.c: two local symbols with one name, so a
 * patch to either needs its sympos.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>
#include <linux/percpu.h>

static noinline void show_val_kb(struct seq_file *m, const char *s,
				 unsigned long num)
{
	seq_printf(m, "%s %lu\n", s, num >> 10);
}

/* Always called with the same width: gcc makes a .constprop clone. */
static noinline void show_counter(struct seq_file *m, const char *name,
				  unsigned long val, int width)
{
	seq_printf(m, "%-*s %lu\n", width, name, val);
}

int vmstat_show(struct seq_file *m, void *v)
{
	struct kmalloc_stats st;
	unsigned long syscalls = 0;
	int cpu;

	kmalloc_get_stats(&st);
	for_each_possible_cpu(cpu)
		syscalls += per_cpu(syscall_count, cpu);

	show_counter(m, "kmalloc_allocs", st.allocs, 16);
	show_counter(m, "kmalloc_frees", st.frees, 16);
	show_val_kb(m, "kmalloc_used_kb", st.used_bytes);
	show_val_kb(m, "kmalloc_carved_kb", st.carved_bytes);
	show_counter(m, "syscalls", syscalls, 16);
	return 0;
}

long sys_vmstat(char __user *buf, unsigned long len)
{
	return proc_read_to_user(vmstat_show, buf, len);
}
