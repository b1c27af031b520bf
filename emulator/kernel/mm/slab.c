// SPDX-License-Identifier: GPL-2.0
/*
 * kmalloc: power-of-two size classes from 32 to 4096 bytes, carved from a
 * static arena in .bss.  Each block is preceded by a 16-byte header
 * holding its class; freed blocks go onto their class's free list.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#define ARENA_SIZE	(512 * 1024)
#define MIN_SHIFT	5	/* 32 bytes */
#define MAX_SHIFT	12	/* 4096 bytes */
#define NR_CLASSES	(MAX_SHIFT - MIN_SHIFT + 1)
#define HDR_SIZE	16

struct free_block {
	struct free_block *next;
};

static char arena[ARENA_SIZE] __aligned(4096);
static unsigned long arena_used;
static struct free_block *free_lists[NR_CLASSES];
static DEFINE_SPINLOCK(slab_lock);
static struct kmalloc_stats stats;

static unsigned int size_class(size_t size)
{
	unsigned int c = 0;

	while ((1UL << (c + MIN_SHIFT)) < size)
		c++;
	return c;
}

void *kmalloc(size_t size, gfp_t flags)
{
	unsigned int c;
	unsigned long bytes;
	char *p = NULL;

	if (size == 0 || size > KMALLOC_MAX_SIZE - HDR_SIZE)
		return NULL;
	c = size_class(size + HDR_SIZE);
	BUG_ON(c >= NR_CLASSES);
	bytes = 1UL << (c + MIN_SHIFT);

	spin_lock(&slab_lock);
	if (free_lists[c]) {
		p = (char *)free_lists[c];
		free_lists[c] = free_lists[c]->next;
	} else if (arena_used + bytes <= ARENA_SIZE) {
		p = arena + arena_used;
		arena_used += bytes;
		stats.carved_bytes = arena_used;
	}
	if (p) {
		stats.allocs++;
		stats.used_bytes += bytes;
	}
	spin_unlock(&slab_lock);

	if (!p)
		return NULL;
	*(unsigned long *)p = c;
	p += HDR_SIZE;
	if (flags & __GFP_ZERO)
		memset(p, 0, bytes - HDR_SIZE);
	return p;
}
EXPORT_SYMBOL(kmalloc);

void *kzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}
EXPORT_SYMBOL(kzalloc);

void kfree(const void *ptr)
{
	char *p = (char *)ptr;
	unsigned long c;

	if (!p)
		return;
	p -= HDR_SIZE;
	c = *(unsigned long *)p;
	if (WARN(c >= NR_CLASSES || p < arena || p >= arena + ARENA_SIZE,
		 "kfree: bad pointer %p\n", ptr))
		return;

	spin_lock(&slab_lock);
	((struct free_block *)p)->next = free_lists[c];
	free_lists[c] = (struct free_block *)p;
	stats.frees++;
	stats.used_bytes -= 1UL << (c + MIN_SHIFT);
	spin_unlock(&slab_lock);
}
EXPORT_SYMBOL(kfree);

void kmalloc_get_stats(struct kmalloc_stats *st)
{
	spin_lock(&slab_lock);
	*st = stats;
	spin_unlock(&slab_lock);
}
EXPORT_SYMBOL_GPL(kmalloc_get_stats);

void __init kmalloc_init(void)
{
	stats.arena_bytes = ARENA_SIZE;
	pr_info("kmalloc: %lu KiB arena at %p\n", stats.arena_bytes >> 10, arena);
}
