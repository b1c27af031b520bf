/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_ERRNO_H
#define _LINUX_ERRNO_H

/* The Linux x86-64 numbers (asm-generic/errno-base.h, errno.h). */
#define EPERM		 1
#define ENOENT		 2
#define ESRCH		 3
#define EINTR		 4
#define EIO		 5
#define E2BIG		 7
#define EAGAIN		11
#define ENOMEM		12
#define EFAULT		14
#define EBUSY		16
#define EEXIST		17
#define EINVAL		22
#define ENOSPC		28
#define ERANGE		34
#define ENOSYS		38
#define ENAMETOOLONG	36

/*
 * Kernel-internal codes (Linux's include/linux/errno.h): a system call
 * interrupted by a signal returns one of them and the way out to user
 * space restarts it (kernel/signal.c); user space never sees them.
 */
#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516	/* restart with sys_restart_syscall */

#endif
