#include "kernel.h"

/* Built with -g (see cflags): the diff output must carry DWARF that
 * readelf and objdump read without a warning. */

struct sample {
	int value;
	unsigned long stamp;
	const char *tag;
};

static struct sample last_sample;
int sample_limit = 100;

static noinline int scale(int v, int factor)
{
	return v * factor + 1;
}

static inline int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

noinline int record_sample(int v, unsigned long stamp)
{
	int s = clamp(scale(v, 3), 0, sample_limit);

	last_sample.value = s;
	last_sample.stamp = stamp;
	last_sample.tag = "recorded";
	pr_info("sample %d at %lu\n", s, stamp);
	return s;
}

int read_sample(struct sample *out)
{
	*out = last_sample;
	return out->value;
}

unsigned long sample_age(unsigned long now)
{
	return now - last_sample.stamp;
}
