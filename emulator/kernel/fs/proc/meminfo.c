// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/meminfo, after the kernel's fs/proc/meminfo.c (the file the
 * kpatch integration tests patch).
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/syscalls.h>

extern char __per_cpu_start[], __per_cpu_end[];
extern char _text[], _etext[], _sdata[], _edata[], __bss_start[], __bss_stop[];

static noinline void show_val_kb(struct seq_file *m, const char *s, unsigned long num)
{
	seq_put_decimal_ull_width(m, s, num >> 10, 8);
	seq_puts(m, " kB\n");
}

int meminfo_proc_show(struct seq_file *m, void *v)
{
	struct kmalloc_stats st;
	unsigned long percpu;

	kmalloc_get_stats(&st);
	percpu = (unsigned long)(__per_cpu_end - __per_cpu_start) * nr_cpu_ids;

	show_val_kb(m, "MemTotal:       ", st.arena_bytes);
	show_val_kb(m, "MemFree:        ", st.arena_bytes - st.used_bytes);
	show_val_kb(m, "MemAvailable:   ", st.arena_bytes - st.carved_bytes);
	show_val_kb(m, "KernelText:     ", _etext - _text);
	show_val_kb(m, "KernelData:     ", _edata - _sdata);
	show_val_kb(m, "KernelBss:      ", __bss_stop - __bss_start);
	show_val_kb(m, "Slab:           ", st.used_bytes);
	show_val_kb(m, "VmallocTotal:   ", 34359738367UL << 10);
	show_val_kb(m, "VmallocUsed:    ", 0);
	show_val_kb(m, "VmallocChunk:   ", 0);
	show_val_kb(m, "Percpu:         ", percpu);
	return 0;
}

long sys_meminfo(char __user *buf, unsigned long len)
{
	return proc_read_to_user(meminfo_proc_show, buf, len);
}
