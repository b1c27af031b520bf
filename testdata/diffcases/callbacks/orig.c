#include "kernel.h"

int feature_mode;

int get_feature_mode(void)
{
	return feature_mode;
}
