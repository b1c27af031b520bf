// SPDX-License-Identifier: GPL-2.0
/*
 * Named text entries ("proc files") and the common path that renders one
 * into a user buffer.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/proc_fs.h>
#include <linux/syscalls.h>

#define PROC_NAME_MAX	32

struct proc_entry {
	struct list_head	list;
	proc_show_t		show;
	char			name[PROC_NAME_MAX];
};

static LIST_HEAD(proc_entries);
static DEFINE_SPINLOCK(proc_lock);

static struct proc_entry *proc_lookup(const char *name)
{
	struct proc_entry *e;

	list_for_each_entry(e, &proc_entries, list)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

/* Register show() under name; -EEXIST if taken. */
int proc_create_single(const char *name, proc_show_t show)
{
	struct proc_entry *e;
	int ret = 0;

	if (strlen(name) >= PROC_NAME_MAX)
		return -ENAMETOOLONG;
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	strscpy(e->name, name, sizeof(e->name));
	e->show = show;

	spin_lock(&proc_lock);
	if (proc_lookup(name))
		ret = -EEXIST;
	else
		list_add_tail(&e->list, &proc_entries);
	spin_unlock(&proc_lock);
	if (ret)
		kfree(e);
	return ret;
}
EXPORT_SYMBOL(proc_create_single);

int remove_proc_entry(const char *name)
{
	struct proc_entry *e;

	spin_lock(&proc_lock);
	e = proc_lookup(name);
	if (e)
		list_del(&e->list);
	spin_unlock(&proc_lock);
	if (!e)
		return -ENOENT;
	kfree(e);
	return 0;
}
EXPORT_SYMBOL(remove_proc_entry);

/*
 * Render show() into a kernel buffer, then copy at most len bytes to
 * ubuf (no terminating NUL).  Returns the number of bytes copied or
 * -errno.
 */
long proc_read_to_user(proc_show_t show, char __user *ubuf, unsigned long len)
{
	struct seq_file m = { .size = PROC_BUF_SIZE };
	long ret;
	size_t n;

	m.buf = kmalloc(PROC_BUF_SIZE, GFP_KERNEL);
	if (!m.buf)
		return -ENOMEM;

	ret = show(&m, NULL);
	if (ret)
		goto out;
	/* Impossible: the seq_file helpers never go past the end. */
	if (WARN_ON(m.count > m.size)) {
		ret = -EINVAL;
		goto out;
	}
	n = min_t(size_t, len, m.count);
	if (copy_to_user(ubuf, m.buf, n))
		ret = -EFAULT;
	else
		ret = n;
out:
	kfree(m.buf);
	return ret;
}
EXPORT_SYMBOL_GPL(proc_read_to_user);

/* Read any entry (built in or registered by a module) by name. */
long sys_proc_read(const char __user *uname, char __user *buf, unsigned long len)
{
	char name[PROC_NAME_MAX];
	struct proc_entry *e;
	proc_show_t show = NULL;
	long n;

	n = strncpy_from_user(name, uname, sizeof(name));
	if (n < 0)
		return n;
	if (n == sizeof(name))
		return -ENAMETOOLONG;

	spin_lock(&proc_lock);
	e = proc_lookup(name);
	if (e)
		show = e->show;
	spin_unlock(&proc_lock);
	if (!show)
		return -ENOENT;
	return proc_read_to_user(show, buf, len);
}

void __init proc_root_init(void)
{
	proc_create_single("meminfo", meminfo_proc_show);
	proc_create_single("cmdline", cmdline_proc_show);
	proc_create_single("version", version_proc_show);
	proc_create_single("vmstat", vmstat_show);
	proc_create_single("stat", stat_proc_show);
}
