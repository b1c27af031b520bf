// SPDX-License-Identifier: GPL-2.0
/*
 * Exercises the shadow variable API at load time in the order of Linux's
 * selftest: three objects with two shadow ids each, created by
 * get_or_alloc and alloc with a constructor, looked up, looked up again
 * through get_or_alloc, freed one by one with a destructor (id 0x1234)
 * and all at once (id 0x1235).  Pointers are printed as PTRn, n given in
 * order of first appearance (PTR0 is NULL), so the transcript does not
 * depend on addresses.  Beyond Linux's case: a duplicate allocation
 * (WARN, NULL) and a failing constructor.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

#define ID1 0x1234
#define ID2 0x1235

static const void *seen[32];
static int nseen = 1;		/* seen[0] is NULL */

/* The PTRn number of p. */
static int ptr(const void *p)
{
	int i;

	for (i = 0; i < nseen; i++)
		if (seen[i] == p)
			return i;
	if (nseen == ARRAY_SIZE(seen))
		return -1;
	seen[nseen] = p;
	return nseen++;
}

static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	int **var = shadow_data;

	pr_info("%s: %s: PTR%d -> PTR%d\n", KBUILD_MODNAME, __func__, ptr(var), ptr(ctor_data));
	*var = ctor_data;
	return 0;
}

static int failing_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	return -22;
}

static void shadow_dtor(void *obj, void *shadow_data)
{
	pr_info("%s: %s(obj=PTR%d, shadow_data=PTR%d)\n", KBUILD_MODNAME, __func__, ptr(obj), ptr(shadow_data));
}

static void *get(void *obj, unsigned long id)
{
	void *r = klp_shadow_get(obj, id);

	pr_info("%s: klp_shadow_get(obj=PTR%d, id=0x%lx) = PTR%d\n", KBUILD_MODNAME, ptr(obj), id, ptr(r));
	return r;
}

static void *alloc(bool or_get, void *obj, unsigned long id, void *data)
{
	void *r;

	if (or_get)
		r = klp_shadow_get_or_alloc(obj, id, sizeof(int *), GFP_KERNEL, shadow_ctor, data);
	else
		r = klp_shadow_alloc(obj, id, sizeof(int *), GFP_KERNEL, shadow_ctor, data);
	pr_info("%s: klp_shadow_%s(obj=PTR%d, id=0x%lx, size=%zu, gfp_flags=GFP_KERNEL), ctor=PTR%d, ctor_data=PTR%d = PTR%d\n",
		KBUILD_MODNAME, or_get ? "get_or_alloc" : "alloc", ptr(obj), id, sizeof(int *),
		ptr(shadow_ctor), ptr(data), ptr(r));
	return r;
}

/* Checks that shadow variable sv holds data (NULL: that it is gone). */
static void expect(int **sv, int *data)
{
	if (!data && !sv)
		pr_info("%s:   got expected NULL result\n", KBUILD_MODNAME);
	else if (sv && *sv == data)
		pr_info("%s:   got expected PTR%d -> PTR%d result\n", KBUILD_MODNAME, ptr(sv), ptr(data));
	else
		pr_err("%s:   unexpected result PTR%d\n", KBUILD_MODNAME, ptr(sv));
}

static int objs[3];		/* the objects the variables shadow */
static int data1[3], data2[3];	/* what their shadow variables point to */

static int test_klp_shadow_vars_init(void)
{
	int **sv1[3], **sv2[3];
	void *p;
	int i;

	ptr(NULL);
	expect(get(&objs[0], ID1), NULL);
	for (i = 0; i < 3; i++) {
		sv1[i] = alloc(i != 1, &objs[i], ID1, &data1[i]);
		sv2[i] = alloc(false, &objs[i], ID2, &data2[i]);
		if (!sv1[i] || !sv2[i])
			return -12;
	}
	for (i = 0; i < 3; i++) {
		expect(get(&objs[i], ID1), &data1[i]);
		expect(get(&objs[i], ID2), &data2[i]);
	}
	for (i = 0; i < 3; i++) {
		p = alloc(true, &objs[i], ID1, &data1[i]);
		expect(p, p == sv1[i] ? &data1[i] : NULL);
	}
	for (i = 0; i < 3; i++) {
		klp_shadow_free(&objs[i], ID1, shadow_dtor);
		pr_info("%s: klp_shadow_free(obj=PTR%d, id=0x%x, dtor=PTR%d)\n", KBUILD_MODNAME,
			ptr(&objs[i]), ID1, ptr(shadow_dtor));
		expect(get(&objs[i], ID1), NULL);
	}
	for (i = 0; i < 3; i++)
		expect(get(&objs[i], ID2), &data2[i]);
	klp_shadow_free_all(ID2, NULL);
	pr_info("%s: klp_shadow_free_all(id=0x%x, dtor=PTR0)\n", KBUILD_MODNAME, ID2);
	for (i = 0; i < 3; i++)
		expect(get(&objs[i], ID2), NULL);

	/* Beyond Linux's case: a duplicate, and a constructor that fails. */
	alloc(false, &objs[0], ID1, &data1[0]);
	p = alloc(false, &objs[0], ID1, &data1[0]);
	expect(p, NULL);
	p = klp_shadow_alloc(&objs[1], ID1, sizeof(int *), GFP_KERNEL, failing_ctor, NULL);
	expect(p, NULL);
	expect(get(&objs[1], ID1), NULL);
	klp_shadow_free_all(ID1, shadow_dtor);
	return 0;
}

static void test_klp_shadow_vars_exit(void)
{
}

module_init(test_klp_shadow_vars_init);
module_exit(test_klp_shadow_vars_exit);
MODULE_LICENSE("GPL");
