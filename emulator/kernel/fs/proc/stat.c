// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU counters and the clock, in the spirit of /proc/stat.
 */
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/ktime.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>

DECLARE_PER_CPU(unsigned long, idle_calls);
DECLARE_PER_CPU(unsigned long, nr_switches);
extern unsigned long long_waits;

struct cpu_stat {
	unsigned long syscalls;
	unsigned long idle;
};

/* Reads two fields of *st: gcc passes them as scalars (.isra). */
static noinline void show_cpu_line(struct seq_file *m, int cpu,
				   const struct cpu_stat *st)
{
	seq_printf(m, "cpu%d syscalls %lu idle %lu\n", cpu, st->syscalls, st->idle);
}

int stat_proc_show(struct seq_file *m, void *v)
{
	struct cpu_stat st, sum = { 0, 0 };
	unsigned long ctxt = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		st.syscalls = per_cpu(syscall_count, cpu);
		st.idle = per_cpu(idle_calls, cpu);
		ctxt += per_cpu(nr_switches, cpu);
		show_cpu_line(m, cpu, &st);
		sum.syscalls += st.syscalls;
		sum.idle += st.idle;
	}
	seq_printf(m, "syscalls %lu\n", sum.syscalls);
	seq_printf(m, "ctxt %lu\n", ctxt);
	show_syscall_errors(m);
	seq_printf(m, "long_waits %lu\n", long_waits);
	seq_printf(m, "clock_ns %llu\n", ktime_get_ns());
	return 0;
}

long sys_stat(char __user *buf, unsigned long len)
{
	return proc_read_to_user(stat_proc_show, buf, len);
}
