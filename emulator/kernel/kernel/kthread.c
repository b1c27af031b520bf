// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel threads.  The machine creates the task; it starts in
 * ret_from_fork, which calls kthread() here with the creation record.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <asm/hypercall.h>

struct kthread_create_info {
	int (*threadfn)(void *data);
	void *data;
};

static int kthread(void *_create)
{
	struct kthread_create_info *create = _create;
	int (*threadfn)(void *data) = create->threadfn;
	void *data = create->data;

	kfree(create);
	current->flags |= PF_KTHREAD;
	do_exit(threadfn(data));
}

int kthread_run(int (*threadfn)(void *data), void *data, const char *name)
{
	struct kthread_create_info *create;
	long pid;

	create = kmalloc(sizeof(*create), GFP_KERNEL);
	if (!create)
		return -ENOMEM;
	create->threadfn = threadfn;
	create->data = data;

	pid = hypercall3(HC_KTHREAD_CREATE, (unsigned long)kthread,
			 (unsigned long)create, (unsigned long)name);
	if (pid < 0) {
		kfree(create);
		pr_err("kthread: cannot create %s: %ld\n", name, pid);
	}
	return pid;
}
EXPORT_SYMBOL(kthread_run);
