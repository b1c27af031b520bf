// SPDX-License-Identifier: GPL-2.0
/*
 * Static keys: flip the key's "enabled" count and have the machine
 * rewrite every branch site of the key (vmlinux and loaded modules).
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/jump_label.h>
#include <linux/spinlock.h>
#include <asm/hypercall.h>

static DEFINE_SPINLOCK(jump_label_lock);

static void jump_label_update(struct static_key *key)
{
	hypercall1(HC_JUMP_LABEL, (unsigned long)key);
}

void static_key_enable(struct static_key *key)
{
	spin_lock(&jump_label_lock);
	if (atomic_read(&key->enabled) == 0) {
		atomic_set(&key->enabled, 1);
		jump_label_update(key);
	}
	spin_unlock(&jump_label_lock);
}
EXPORT_SYMBOL_GPL(static_key_enable);

void static_key_disable(struct static_key *key)
{
	spin_lock(&jump_label_lock);
	if (atomic_read(&key->enabled) != 0) {
		atomic_set(&key->enabled, 0);
		jump_label_update(key);
	}
	spin_unlock(&jump_label_lock);
}
EXPORT_SYMBOL_GPL(static_key_disable);

bool static_key_enabled_raw(struct static_key *key)
{
	return atomic_read(&key->enabled) > 0;
}
EXPORT_SYMBOL_GPL(static_key_enabled_raw);
