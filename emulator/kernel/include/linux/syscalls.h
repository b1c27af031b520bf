/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SYSCALLS_H
#define _LINUX_SYSCALLS_H

#include <linux/types.h>
#include <linux/percpu.h>
#include <asm/unistd.h>

/*
 * Every system call takes up to three arguments (integers or user
 * pointers) and returns a long: >= 0 on success, -errno on failure.
 * sys_call_table[] (kernel/sys.c) stores them as sys_call_ptr_t.
 */
typedef long (*sys_call_ptr_t)(unsigned long, unsigned long, unsigned long);

extern const sys_call_ptr_t sys_call_table[NR_syscalls];

/* System calls entered on each CPU (kernel/sys.c). */
DECLARE_PER_CPU(unsigned long, syscall_count);

struct seq_file;
/* kernel/sys.c: "errors NR COUNT last ERRNO" lines for sys_stat. */
void show_syscall_errors(struct seq_file *m);

asmlinkage long do_syscall(unsigned long nr, unsigned long a0,
			   unsigned long a1, unsigned long a2);

long sys_version(char __user *buf, unsigned long len);
long sys_cmdline(char __user *buf, unsigned long len);
long sys_meminfo(char __user *buf, unsigned long len);
long sys_vmstat(char __user *buf, unsigned long len);
long sys_stat(char __user *buf, unsigned long len);
long sys_cpuinfo(char __user *buf, unsigned long len);
long sys_proc_read(const char __user *name, char __user *buf, unsigned long len);
long sys_read_user(const char __user *buf, unsigned long len);
long sys_incr_user(u32 __user *p);
long sys_verbose(unsigned long on);
long sys_getpid(void);
long sys_nanosleep(unsigned long ns);
long sys_count(void);
long sys_wait_event(void);
long sys_wake_all(void);
long sys_queue_work(void);
long sys_restart_syscall(void);
long sys_kwork(unsigned long iters, unsigned long k);
long sys_spin_work(unsigned long idx, unsigned long iters);
long sys_mutex_sleep(unsigned long idx, unsigned long ns);

#endif
