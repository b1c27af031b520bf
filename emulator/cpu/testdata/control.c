/* Control flow: switch tables, recursion, indirect calls, loops;
 * compute-heavy kernels (hashing, sorting, CRC). */
#include "difftest.h"

TEST(switch)
{
	u64 r;
	switch (a % 23) {
	case 0: r = b; break;
	case 1: r = c + 1; break;
	case 2: r = b * c; break;
	case 3: r = b ^ c; break;
	case 4: r = b - c; break;
	case 5: r = b << 3; break;
	case 6: r = c >> 2; break;
	case 7: r = ~b; break;
	case 8: r = b | 0x100; break;
	case 9: r = c & 0xff00; break;
	case 10: r = b + c * 7; break;
	case 11: r = 11; break;
	case 12: r = b * 12; break;
	case 14: r = c * c; break;
	case 15: r = (b & 1) ? c : b; break;
	case 16: r = b / 3; break;
	case 17: r = 1700; break;
	case 19: r = b + 19; break;
	case 20: r = c ^ 0x20; break;
	default: r = 0xdef; break;
	}
	return r;
}

TEST(switch_sparse)
{
	switch ((u32)b & 0xfff) {
	case 1: return 10;
	case 100: return 20;
	case 1000: return 30;
	case 2048: return 40;
	case 4095: return 50;
	}
	return (u32)b & 0xfff;
}

static u64 fib(u64 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static u64 gcd(u64 x, u64 y) { return y ? gcd(y, x % y) : x; }

static __attribute__((noinline)) u64 ack(u64 m, u64 n)
{
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ack(m - 1, 1);
	return ack(m - 1, ack(m, n - 1));
}

TEST(recursion)
{
	return fib(a & 15) + gcd(b, c) * 3 + ack(b & 1, c & 7) * 5;
}

typedef u64 (*fn_t)(u64, u64);
static __attribute__((noinline)) u64 f_add(u64 x, u64 y) { return x + y; }
static __attribute__((noinline)) u64 f_sub(u64 x, u64 y) { return x - y; }
static __attribute__((noinline)) u64 f_mul(u64 x, u64 y) { return x * y; }
static __attribute__((noinline)) u64 f_xor(u64 x, u64 y) { return x ^ y; }
static fn_t fns[4] = {f_add, f_sub, f_mul, f_xor};
static fn_t volatile fptr;

TEST(indirect)
{
	u64 r = fns[a & 3](b, c);
	fptr = fns[(a >> 2) & 3];
	r ^= fptr(c, r);
	return r;
}

TEST(hash)
{
	u64 h = 0x9e3779b97f4a7c15ULL ^ c;
	u64 x = a;
	for (int i = 0; i < 16; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;
		x ^= x >> 33;
		h = (h ^ x) * 0xc4ceb9fe1a85ec53ULL + b;
		h = (h << 27) | (h >> 37);
	}
	return h;
}

TEST(crc32)
{
	u32 crc = ~(u32)c;
	u64 data = a ^ b;
	for (int i = 0; i < 8; i++) {
		crc ^= (u8)(data >> (i * 8));
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

TEST(sort)
{
	s32 v[16];
	u64 x = a | 1;
	for (int i = 0; i < 16; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (s32)(x >> (b & 31));
	}
	for (int i = 1; i < 16; i++) {
		s32 k = v[i];
		int j = i - 1;
		while (j >= 0 && v[j] > k) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = k;
	}
	u64 h = 0;
	for (int i = 0; i < 16; i++)
		h = h * 1000003 + (u32)v[i];
	return h;
}

TEST(loops)
{
	u64 s = 0;
	s16 t = (s16)b;
	for (u32 i = 0; i < (c & 63); i++) {
		s += (i * a) >> 3;
		t = (s16)(t * 3 - (s16)i);
		if ((s64)s < 0)
			s = ~s;
	}
	return s ^ (u64)(u16)t << 48;
}
