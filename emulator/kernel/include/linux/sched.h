/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <asm/current.h>
#include <asm/thread_info.h>

#define TASK_COMM_LEN		16

/* task_struct.flags (Linux values). */
#define PF_IDLE			0x00000002	/* the idle task of a CPU */
#define PF_EXITING		0x00000004
#define PF_KTHREAD		0x00200000	/* a kernel thread */

/*
 * task_struct.__state (Linux values): what a sleep waits for.  A sleeper
 * sets it before schedule(); the machine's fake signal wakes a sleeping
 * user task only in TASK_INTERRUPTIBLE, as signal_wake_up() does.
 */
#define TASK_RUNNING		0x00000000
#define TASK_INTERRUPTIBLE	0x00000001
#define TASK_UNINTERRUPTIBLE	0x00000002

struct restart_block;

/*
 * How an interrupted system call resumes (Linux's struct restart_block):
 * a call that returns -ERESTART_RESTARTBLOCK sets fn and its arguments;
 * the restarted call is sys_restart_syscall(), which calls fn.
 */
struct restart_block {
	long		(*fn)(struct restart_block *);	/* 72 */
	u64		expires;			/* 80: absolute virtual time */
	unsigned long	arg;				/* 88 */
};

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
	unsigned long	thread_flags;		/* 56 both: TIF_* (the machine sets TIF_NOTIFY_SIGNAL) */
	unsigned int	__state;		/* 64 kernel: TASK_*, read by the machine */
	unsigned int	state_pad;		/* 68 */
	struct restart_block restart_block;	/* 72 kernel: see sys_restart_syscall() */
	unsigned long	kernel_reserved[4];	/* 96 kernel: zero, free for later use */
};

#define TASK_STRUCT_SIZE	128

static_assert(offsetof(struct task_struct, pid) == 0);
static_assert(offsetof(struct task_struct, flags) == 4);
static_assert(offsetof(struct task_struct, stack) == 8);
static_assert(offsetof(struct task_struct, stack_size) == 16);
static_assert(offsetof(struct task_struct, comm) == 24);
static_assert(offsetof(struct task_struct, sleep_timeout) == 40);
static_assert(offsetof(struct task_struct, thread_flags) == 56);
static_assert(offsetof(struct task_struct, __state) == 64);
static_assert(offsetof(struct task_struct, restart_block) == 72);
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
int wake_up_state(struct task_struct *p, unsigned int state);
long schedule_timeout_interruptible(long timeout_ns);
long schedule_timeout_uninterruptible(long timeout_ns);
long nanosleep_until(u64 expires);
void yield(void);
void cond_resched(void);
u64 ktime_get_ns(void);
void __noreturn do_exit(long code);
void sched_init(void);

static inline pid_t task_pid_nr(struct task_struct *t)
{
	return t->pid;
}

/*
 * The state a sleep waits in; set before testing the condition and
 * calling schedule(), which sets TASK_RUNNING again when it returns.
 */
#define __set_current_state(state)	WRITE_ONCE(current->__state, (state))
#define set_current_state(state)					\
do {									\
	WRITE_ONCE(current->__state, (state));				\
	barrier();							\
} while (0)

static inline bool test_tsk_thread_flag(struct task_struct *t, int bit)
{
	return (READ_ONCE(t->thread_flags) >> bit) & 1;
}

static inline void clear_tsk_thread_flag(struct task_struct *t, int bit)
{
	clear_ti_flag(&t->thread_flags, bit);
}

#define test_thread_flag(bit)		test_tsk_thread_flag(current, bit)
#define clear_thread_flag(bit)		clear_tsk_thread_flag(current, bit)

/* A signal (real or fake) is pending: an interruptible sleep must end. */
static inline bool signal_pending(struct task_struct *t)
{
	return READ_ONCE(t->thread_flags) & (_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL);
}

/* kernel/signal.c */
void set_notify_signal(struct task_struct *t);

#endif /* _LINUX_SCHED_H */
