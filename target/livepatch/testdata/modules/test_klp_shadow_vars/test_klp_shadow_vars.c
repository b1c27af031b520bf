// SPDX-License-Identifier: GPL-2.0
/*
 * Exercises the shadow variable API at load time, as Linux's selftest
 * does: allocation with a constructor, lookups, get_or_alloc of an
 * existing and of a new variable, a duplicate allocation (WARN, NULL),
 * free and free_all with a destructor.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

static int objs[3];		/* the objects the variables shadow */
static int ctor_calls, dtor_calls;

static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	int *var = shadow_data;

	ctor_calls++;
	*var = *(int *)ctor_data;
	return 0;
}

static int failing_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	return -22;
}

static void shadow_dtor(void *obj, void *shadow_data)
{
	dtor_calls++;
	pr_info("%s: dtor obj %d value %d\n", KBUILD_MODNAME,
		(int)((int *)obj - objs), *(int *)shadow_data);
}

static int val(void *p)
{
	return p ? *(int *)p : -1;
}

static int test_klp_shadow_vars_init(void)
{
	int v1 = 11, v2 = 22, v3 = 33;
	int *sv1, *sv2, *sv3, *p;

	sv1 = klp_shadow_alloc(&objs[0], 1, sizeof(int), GFP_KERNEL, shadow_ctor, &v1);
	sv2 = klp_shadow_alloc(&objs[1], 1, sizeof(int), GFP_KERNEL, shadow_ctor, &v2);
	sv3 = klp_shadow_alloc(&objs[0], 2, sizeof(int), GFP_KERNEL, shadow_ctor, &v3);
	pr_info("%s: alloc: %d %d %d\n", KBUILD_MODNAME, val(sv1), val(sv2), val(sv3));
	pr_info("%s: get(obj0, 1) same: %d, get(obj1, 1) same: %d, get(obj2, 1): %d\n", KBUILD_MODNAME,
		klp_shadow_get(&objs[0], 1) == sv1, klp_shadow_get(&objs[1], 1) == sv2,
		val(klp_shadow_get(&objs[2], 1)));
	p = klp_shadow_get_or_alloc(&objs[0], 1, sizeof(int), GFP_KERNEL, shadow_ctor, &v3);
	pr_info("%s: get_or_alloc existing: same %d value %d\n", KBUILD_MODNAME, p == sv1, val(p));
	p = klp_shadow_get_or_alloc(&objs[2], 1, sizeof(int), GFP_KERNEL, shadow_ctor, &v3);
	pr_info("%s: get_or_alloc new: value %d\n", KBUILD_MODNAME, val(p));
	p = klp_shadow_alloc(&objs[0], 1, sizeof(int), GFP_KERNEL, shadow_ctor, &v2);
	pr_info("%s: duplicate alloc: %s\n", KBUILD_MODNAME, p ? "allocated" : "NULL");
	p = klp_shadow_alloc(&objs[1], 3, sizeof(int), GFP_KERNEL, failing_ctor, NULL);
	pr_info("%s: failing ctor: %s, get: %d\n", KBUILD_MODNAME, p ? "allocated" : "NULL",
		val(klp_shadow_get(&objs[1], 3)));
	klp_shadow_free(&objs[0], 1, shadow_dtor);
	pr_info("%s: after free(obj0, 1): get %d, get(obj0, 2) %d\n", KBUILD_MODNAME,
		val(klp_shadow_get(&objs[0], 1)), val(klp_shadow_get(&objs[0], 2)));
	klp_shadow_free_all(1, shadow_dtor);
	pr_info("%s: after free_all(1): %d %d %d, id 2 left: %d\n", KBUILD_MODNAME,
		val(klp_shadow_get(&objs[0], 1)), val(klp_shadow_get(&objs[1], 1)),
		val(klp_shadow_get(&objs[2], 1)), val(klp_shadow_get(&objs[0], 2)));
	klp_shadow_free_all(2, NULL);
	pr_info("%s: ctor calls %d, dtor calls %d\n", KBUILD_MODNAME, ctor_calls, dtor_calls);
	return 0;
}

static void test_klp_shadow_vars_exit(void)
{
}

module_init(test_klp_shadow_vars_init);
module_exit(test_klp_shadow_vars_exit);
MODULE_LICENSE("GPL");
