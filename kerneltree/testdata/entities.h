/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _TEST_ENTITIES_H
#define _TEST_ENTITIES_H

#include <linux/types.h>

#define TWICE(x) \
	((x) * 2)

struct counter {
	long n;
#define COUNTER_MAX 100
	unsigned int flags;
};

typedef struct {
	int a;
} pair_t;

typedef int (*visit_fn)(void *data, int depth);
typedef unsigned long word_t;

enum mode { MODE_A, MODE_B = 4 };
enum { ANON_A, ANON_B };

extern int counter_limit;
extern struct counter *counter_get(int id) __must_check;
static const char banner[] = "{ not a brace }";

/* A comment between entities. */
static inline __printf(2, 3) void counter_log(struct counter *c, const char *fmt, ...)
{
	if (c->n > COUNTER_MAX) {
		c->n = 0;
	}
#ifdef CONFIG_COUNTER_DEBUG
	c->flags |= 1;
#endif
}

static __always_inline long counter_add(struct counter *c, long v) { return c->n += v; }

DECLARE_PER_CPU(struct counter, cpu_counter);

#endif
