/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_UNISTD_H
#define _ASM_X86_UNISTD_H

/*
 * System call numbers of the target (not Linux's).  The machine enters
 * the kernel with do_syscall(nr, a0, a1, a2); see ABI.md for what each
 * returns.  Buffers are user addresses; "len" is the buffer size.
 */
#define __NR_version		0	/* (buf, len): /proc/version text */
#define __NR_cmdline		1	/* (buf, len): /proc/cmdline text */
#define __NR_meminfo		2	/* (buf, len): /proc/meminfo text */
#define __NR_vmstat		3	/* (buf, len): /proc/vmstat text */
#define __NR_stat		4	/* (buf, len): per-CPU counters */
#define __NR_cpuinfo		5	/* (buf, len): CPU features, alternative chosen */
#define __NR_proc_read		6	/* (name, buf, len): any proc entry by name */
#define __NR_read_user		7	/* (buf, len): copy_from_user, log it */
#define __NR_incr_user		8	/* (u32 *p): get_user, +1, put_user */
#define __NR_verbose		9	/* (on): toggle the verbose_key static key */
#define __NR_getpid		10	/* (): current->pid */
#define __NR_nanosleep		11	/* (ns): sleep in the kernel */
#define __NR_count		12	/* (): calls so far (a static local) */
#define __NR_wait_event		13	/* (): sleep on the demo wait queue */
#define __NR_wake_all		14	/* (): wake the demo wait queue */
#define __NR_queue_work		15	/* (): queue the stats work item */
#define __NR_restart_syscall	16	/* (): resume an interrupted call (restart_block) */
#define __NR_kwork		17	/* (iters, k): kernel work, cond_resched() every k */
#define __NR_spin_work		18	/* (idx, iters): kernel work holding spinlock idx */
#define __NR_mutex_sleep	19	/* (idx, ns): sleep ns holding mutex idx */

#define NR_syscalls		20

#endif
