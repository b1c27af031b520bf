// SPDX-License-Identifier: GPL-2.0
/*
 * A live patch of a system call: sys_getpid().  The new function notes
 * every process named "klp_getpid" that calls it; /proc/test_klp_syscall
 * tells how many of the LP_NCALLERS such processes have not called it yet,
 * i.e. have not yet switched to the patched state.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/livepatch.h>

#ifndef LP_NCALLERS
#define LP_NCALLERS 4
#endif

#define CALLER_COMM "klp_getpid"

static DEFINE_SPINLOCK(seen_lock);
static pid_t seen[LP_NCALLERS];
static int nseen;

static long lp_sys_getpid(void)
{
	int i;

	if (strncmp(current->comm, CALLER_COMM, sizeof(CALLER_COMM)) == 0) {
		spin_lock(&seen_lock);
		for (i = 0; i < nseen && seen[i] != current->pid; i++)
			;
		if (i == nseen && nseen < LP_NCALLERS)
			seen[nseen++] = current->pid;
		spin_unlock(&seen_lock);
	}
	return current->pid;
}

static int npids_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", LP_NCALLERS - nseen);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "sys_getpid", .new_func = lp_sys_getpid, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, },
	{ }
};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_syscall_init(void)
{
	int ret = proc_create_single("test_klp_syscall", npids_show);

	if (ret)
		return ret;
	ret = klp_enable_patch(&patch);
	if (ret)
		remove_proc_entry("test_klp_syscall");
	return ret;
}

static void test_klp_syscall_exit(void)
{
	remove_proc_entry("test_klp_syscall");
}

module_init(test_klp_syscall_init);
module_exit(test_klp_syscall_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
