/* Host driver for the differential tests: reads N input triples from
 * stdin and writes, for every test function in table order and every
 * input, the 64-bit result to stdout (all little-endian binary). */
#include <stdio.h>
#include <stdlib.h>
#include "difftest.h"

struct test {
	const char *name;
	u64 (*fn)(u64, u64, u64);
};
extern struct test tests[];
extern int ntests;

int main(void)
{
	u64 n;
	if (fread(&n, 8, 1, stdin) != 1)
		return 1;
	u64 *in = malloc(n * 24);
	u64 *out = malloc(n * 8);
	if (!in || !out || fread(in, 24, n, stdin) != n)
		return 1;
	for (int t = 0; t < ntests; t++) {
		for (u64 i = 0; i < n; i++)
			out[i] = tests[t].fn(in[3 * i], in[3 * i + 1], in[3 * i + 2]);
		if (fwrite(out, 8, n, stdout) != n)
			return 1;
	}
	return 0;
}
