// SPDX-License-Identifier: GPL-2.0
/*
 * A loadable module: registers the proc entry "hello" (read it with
 * sys_proc_read("hello", ...)).  hello_show() is the function the quick
 * start patches.  Uses exported vmlinux symbols only.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static unsigned long hello_reads;

/* Exported, so other modules (and patches) may call it. */
const char *hello_greeting(void)
{
	return "Hello from the hello module";
}
EXPORT_SYMBOL(hello_greeting);

static int hello_show(struct seq_file *m, void *v)
{
	hello_reads++;
	seq_printf(m, "%s (read %lu times)\n", hello_greeting(), hello_reads);
	return 0;
}

static int __init hello_init(void)
{
	int ret = proc_create_single("hello", hello_show);

	if (ret) {
		pr_err("hello: cannot register: %d\n", ret);
		return ret;
	}
	pr_info("hello: loaded\n");
	return 0;
}

static void __exit hello_exit(void)
{
	remove_proc_entry("hello");
	pr_info("hello: unloaded after %lu reads\n", hello_reads);
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hello: the example module of the kpatchgo target");
