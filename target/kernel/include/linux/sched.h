/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <asm/current.h>

#define TASK_COMM_LEN		16

/* task_struct.flags (Linux values). */
#define PF_IDLE			0x00000002	/* the idle task of a CPU */
#define PF_EXITING		0x00000004
#define PF_KTHREAD		0x00200000	/* a kernel thread */

/*
 * A task as the kernel sees it.  The machine owns tasks: it allocates
 * each task_struct (TASK_STRUCT_SIZE bytes, zero-filled) and its kernel
 * stack, fills the "machine" fields, and points this CPU's current_task
 * at the running one.  The "kernel" fields belong to the C code.
 * The layout is ABI (see ABI.md); the asserts below pin it.
 */
struct task_struct {
	int		pid;			/*  0 machine: task id, > 0 */
	unsigned int	flags;			/*  4 machine: PF_* */
	void		*stack;			/*  8 machine: lowest address of the kernel stack */
	unsigned long	stack_size;		/* 16 machine: bytes */
	char		comm[TASK_COMM_LEN];	/* 24 machine: NUL-terminated name */
	u64		sleep_timeout;		/* 40 kernel: ns, consumed by schedule() */
	void		*kthread;		/* 48 kernel: kthread bookkeeping */
	unsigned long	kernel_reserved[9];	/* 56 kernel: zero, free for later use */
};

#define TASK_STRUCT_SIZE	128

static_assert(offsetof(struct task_struct, pid) == 0);
static_assert(offsetof(struct task_struct, flags) == 4);
static_assert(offsetof(struct task_struct, stack) == 8);
static_assert(offsetof(struct task_struct, stack_size) == 16);
static_assert(offsetof(struct task_struct, comm) == 24);
static_assert(offsetof(struct task_struct, sleep_timeout) == 40);
static_assert(sizeof(struct task_struct) == TASK_STRUCT_SIZE);

/*
 * What HC_TASK_INFO tells about a task: its saved registers (the live ones
 * for the caller itself, at the vmcall), its kernel stack and TI_* flags.
 * The kernel's own stack unwinder works from these.
 */
struct task_info {
	unsigned long	ip;			/*  0 */
	unsigned long	sp;			/*  8 */
	unsigned long	bp;			/* 16 */
	unsigned long	stack_lo;		/* 24 */
	unsigned long	stack_hi;		/* 32 */
	unsigned long	flags;			/* 40: TI_* */
};
static_assert(sizeof(struct task_info) == 48);

#define TI_RUNNING		0x01	/* on another CPU: its stack is moving */
#define TI_USER			0x02	/* a user process in user space: no kernel frames */
#define TI_NEW			0x04	/* never ran: nothing on its stack yet */
#define TI_DEAD			0x08
#define TI_CURRENT		0x10	/* the caller itself */

/* kernel/sched.c */
asmlinkage void schedule(void);
long schedule_timeout(long timeout_ns);
int wake_up_process(struct task_struct *p);
int wake_up_pid(pid_t pid);
void yield(void);
void cond_resched(void);
u64 ktime_get_ns(void);
void __noreturn do_exit(long code);
void sched_init(void);

static inline pid_t task_pid_nr(struct task_struct *t)
{
	return t->pid;
}

#endif /* _LINUX_SCHED_H */
