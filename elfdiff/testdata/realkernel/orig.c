// SPDX-License-Identifier: GPL-2.0
/*
 * A small module built against the installed kernel's headers (kbuild,
 * CONFIG_DEBUG_INFO), original version; patched.c is the same file with
 * one function changed. TestRealKernelDWARF diffs the two objects and
 * checks the output's DWARF.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/jump_label.h>
#include <linux/slab.h>
#include <linux/list.h>
#include <linux/spinlock.h>

struct dwarfmod_item {
	struct list_head node;
	unsigned long value;
	char tag[16];
};

static LIST_HEAD(dwarfmod_items);
static DEFINE_SPINLOCK(dwarfmod_lock);
static DEFINE_STATIC_KEY_FALSE(dwarfmod_verbose);
static unsigned long dwarfmod_total;

static int dwarfmod_add(unsigned long value, const char *tag)
{
	struct dwarfmod_item *it = kzalloc(sizeof(*it), GFP_KERNEL);

	if (!it)
		return -ENOMEM;
	it->value = value;
	strscpy(it->tag, tag, sizeof(it->tag));
	spin_lock(&dwarfmod_lock);
	list_add_tail(&it->node, &dwarfmod_items);
	dwarfmod_total += value;
	spin_unlock(&dwarfmod_lock);
	if (static_branch_unlikely(&dwarfmod_verbose))
		pr_info("dwarfmod: added %s=%lu\n", tag, value);
	return 0;
}

static int dwarfmod_show(struct seq_file *m, void *v)
{
	struct dwarfmod_item *it;

	spin_lock(&dwarfmod_lock);
	list_for_each_entry(it, &dwarfmod_items, node)
		seq_printf(m, "%s %lu\n", it->tag, it->value);
	seq_printf(m, "total %lu\n", dwarfmod_total);
	spin_unlock(&dwarfmod_lock);
	return 0;
}

static int __init dwarfmod_init(void)
{
	int ret = dwarfmod_add(1, "one");

	if (ret)
		return ret;
	if (!proc_create_single("dwarfmod", 0444, NULL, dwarfmod_show))
		return -ENOMEM;
	return 0;
}

static void __exit dwarfmod_exit(void)
{
	struct dwarfmod_item *it, *tmp;

	remove_proc_entry("dwarfmod", NULL);
	list_for_each_entry_safe(it, tmp, &dwarfmod_items, node) {
		list_del(&it->node);
		kfree(it);
	}
}

module_init(dwarfmod_init);
module_exit(dwarfmod_exit);
MODULE_LICENSE("GPL");
