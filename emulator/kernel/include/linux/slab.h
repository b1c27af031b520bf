/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/types.h>

#define GFP_KERNEL	0x0cc0U
#define __GFP_ZERO	0x100U

/*
 * mm/slab.c: power-of-two size classes (32 .. 4096 bytes) carved from a
 * static arena in .bss; freed blocks go back to their class's free list.
 */
#define KMALLOC_MAX_SIZE	4096

void *kmalloc(size_t size, gfp_t flags);
void *kzalloc(size_t size, gfp_t flags);
void kfree(const void *p);

struct kmalloc_stats {
	unsigned long arena_bytes;	/* total arena */
	unsigned long carved_bytes;	/* taken from the arena so far */
	unsigned long used_bytes;	/* in live allocations (class sizes) */
	unsigned long allocs, frees;
};
void kmalloc_get_stats(struct kmalloc_stats *st);
void kmalloc_init(void);

#endif
