/* A compute-bound workload for the emulator benchmark: hashing, sorting
 * and arithmetic on a small array, the mix of a kernel's hot loops. */
#include "difftest.h"

static u32 arr[256];

static u64 mix(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static void sort(u32 *v, int n)
{
	for (int i = 1; i < n; i++) {
		u32 k = v[i];
		int j = i - 1;
		while (j >= 0 && v[j] > k) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = k;
	}
}

TEST(bench)
{
	u64 h = b;
	for (u64 it = 0; it < a; it++) {
		for (int i = 0; i < 64; i++)
			arr[i] = (u32)mix(h + (u64)i);
		sort(arr, 64);
		for (int i = 0; i < 64; i++) {
			h = (h ^ arr[i]) * 0x100000001b3ULL;
			if (arr[i] & 1)
				h += i;
			else
				h -= (u64)i << 3;
		}
		h += c;
	}
	return h;
}
