#include "kernel.h"
#include "kpatch-macros.h"

int feature_mode;

int get_feature_mode(void)
{
	return feature_mode;
}

static int saved_mode;

static int kcase_pre_patch(struct klp_object *obj)
{
	saved_mode = feature_mode;
	return 0;
}

static void kcase_post_patch(struct klp_object *obj)
{
	feature_mode = 2;
}

static void kcase_pre_unpatch(struct klp_object *obj)
{
	feature_mode = 0;
}

static void kcase_post_unpatch(struct klp_object *obj)
{
	feature_mode = saved_mode;
}

KPATCH_PRE_PATCH_CALLBACK(kcase_pre_patch);
KPATCH_POST_PATCH_CALLBACK(kcase_post_patch);
KPATCH_PRE_UNPATCH_CALLBACK(kcase_pre_unpatch);
KPATCH_POST_UNPATCH_CALLBACK(kcase_post_unpatch);
