// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow variables: data a live patch attaches to an existing object,
 * found again by the pair (object address, id).  Semantics as in Linux:
 * klp_shadow_alloc() refuses (with a WARN) a pair that exists,
 * klp_shadow_get_or_alloc() returns the existing one; the constructor
 * runs under the lock on the zeroed data before it becomes visible.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/bug.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/livepatch.h>

struct klp_shadow {
	struct list_head node;
	void *obj;
	unsigned long id;
	char data[] __aligned(8);
};

static LIST_HEAD(klp_shadows);
static DEFINE_SPINLOCK(klp_shadow_lock);

static struct klp_shadow *klp_shadow_find(void *obj, unsigned long id)
{
	struct klp_shadow *s;

	list_for_each_entry(s, &klp_shadows, node)
		if (s->obj == obj && s->id == id)
			return s;
	return NULL;
}

void *klp_shadow_get(void *obj, unsigned long id)
{
	struct klp_shadow *s;

	spin_lock(&klp_shadow_lock);
	s = klp_shadow_find(obj, id);
	spin_unlock(&klp_shadow_lock);
	return s ? s->data : NULL;
}
EXPORT_SYMBOL_GPL(klp_shadow_get);

static void *__klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
				       gfp_t gfp_flags, klp_shadow_ctor_t ctor,
				       void *ctor_data, bool warn_on_exist)
{
	struct klp_shadow *s, *new;
	int err;

	s = klp_shadow_find(obj, id);
	if (s)
		goto exists;

	/* Allocated outside the lock, as Linux does for GFP_KERNEL. */
	new = kzalloc(sizeof(*new) + size, gfp_flags);
	if (!new)
		return NULL;

	spin_lock(&klp_shadow_lock);
	s = klp_shadow_find(obj, id);
	if (s) {
		spin_unlock(&klp_shadow_lock);
		kfree(new);
		goto exists;
	}
	new->obj = obj;
	new->id = id;
	if (ctor) {
		err = ctor(obj, new->data, ctor_data);
		if (err) {
			spin_unlock(&klp_shadow_lock);
			kfree(new);
			pr_err("Failed to construct shadow variable <%p, %lx> (%d)\n",
			       obj, id, err);
			return NULL;
		}
	}
	list_add(&new->node, &klp_shadows);
	spin_unlock(&klp_shadow_lock);
	return new->data;

exists:
	if (warn_on_exist) {
		WARN(1, "Duplicate shadow variable <%p, %lx>\n", obj, id);
		return NULL;
	}
	return s->data;
}

void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
		       klp_shadow_ctor_t ctor, void *ctor_data)
{
	return __klp_shadow_get_or_alloc(obj, id, size, gfp_flags, ctor, ctor_data, true);
}
EXPORT_SYMBOL_GPL(klp_shadow_alloc);

void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
			      klp_shadow_ctor_t ctor, void *ctor_data)
{
	return __klp_shadow_get_or_alloc(obj, id, size, gfp_flags, ctor, ctor_data, false);
}
EXPORT_SYMBOL_GPL(klp_shadow_get_or_alloc);

void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor)
{
	struct klp_shadow *s;

	spin_lock(&klp_shadow_lock);
	s = klp_shadow_find(obj, id);
	if (s) {
		list_del(&s->node);
		if (dtor)
			dtor(s->obj, s->data);
	}
	spin_unlock(&klp_shadow_lock);
	if (s)
		kfree(s);
}
EXPORT_SYMBOL_GPL(klp_shadow_free);

void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor)
{
	struct klp_shadow *s, *n;
	LIST_HEAD(gone);

	spin_lock(&klp_shadow_lock);
	list_for_each_entry_safe(s, n, &klp_shadows, node) {
		if (s->id != id)
			continue;
		list_del(&s->node);
		if (dtor)
			dtor(s->obj, s->data);
		list_add(&s->node, &gone);
	}
	spin_unlock(&klp_shadow_lock);
	list_for_each_entry_safe(s, n, &gone, node)
		kfree(s);
}
EXPORT_SYMBOL_GPL(klp_shadow_free_all);
