/* Integer arithmetic at every width: overflow, carry, comparisons,
 * division, multiplication, conversions. */
#include "difftest.h"

#define OVF(op, T, UT)                                                   \
	TEST(op##o_##T)                                                  \
	{                                                                \
		T r;                                                     \
		int o = __builtin_##op##_overflow((T)a, (T)b, &r);       \
		return (u64)(UT)r | (u64)o << 63 | (c & 1) << 62;        \
	}

OVF(add, s8, u8)
OVF(add, u8, u8)
OVF(add, s16, u16)
OVF(add, u16, u16)
OVF(add, s32, u32)
OVF(add, u32, u32)
OVF(add, s64, u64)
OVF(add, u64, u64)
OVF(sub, s8, u8)
OVF(sub, u8, u8)
OVF(sub, s16, u16)
OVF(sub, u16, u16)
OVF(sub, s32, u32)
OVF(sub, u32, u32)
OVF(sub, s64, u64)
OVF(sub, u64, u64)
OVF(mul, s8, u8)
OVF(mul, u8, u8)
OVF(mul, s16, u16)
OVF(mul, u16, u16)
OVF(mul, s32, u32)
OVF(mul, u32, u32)
OVF(mul, s64, u64)
OVF(mul, u64, u64)

/* All comparisons at one width, as a bit mask. */
#define CMPS(T, UT)                                                      \
	TEST(cmp_##T)                                                    \
	{                                                                \
		UT x = a, y = b;                                         \
		T sx = (T)x, sy = (T)y;                                  \
		return (u64)(x < y) | (u64)(x <= y) << 1 |               \
		       (u64)(x > y) << 2 | (u64)(x >= y) << 3 |          \
		       (u64)(x == y) << 4 | (u64)(x != y) << 5 |         \
		       (u64)(sx < sy) << 6 | (u64)(sx <= sy) << 7 |      \
		       (u64)(sx > sy) << 8 | (u64)(sx >= sy) << 9 |      \
		       (u64)(sx < 0) << 10 | (u64)(sx > 0) << 11 |       \
		       (u64)(x == 0) << 12;                              \
	}
CMPS(s8, u8)
CMPS(s16, u16)
CMPS(s32, u32)
CMPS(s64, u64)

/* Division and remainder, guarded against #DE. */
#define DIVS(T)                                                          \
	TEST(div_##T)                                                    \
	{                                                                \
		T x = (T)a, y = (T)b;                                    \
		if (y == 0)                                              \
			return 0xdead;                                   \
		if ((T)-1 < 0 && y == (T)-1)                             \
			return (u64)(T)(0 - (u64)x);                     \
		return (u64)(T)(x / y) ^ ((u64)(T)(x % y) << 32) ^ c;    \
	}
DIVS(s8)
DIVS(u8)
DIVS(s16)
DIVS(u16)
DIVS(s32)
DIVS(u32)
DIVS(s64)
DIVS(u64)

/* Division by constants: multiply-high and shift sequences. */
TEST(divconst)
{
	s64 s = (s64)a;
	s32 t = (s32)b;
	return a / 7 + a % 10 * 3 + (u64)(s / 13) + (u64)(s % 1000) +
	       (u64)(t / 3) + (u64)(t % 9) + (u32)b / 100;
}

/* Wide multiplication: mul/imul producing rdx:rax. */
TEST(mul128)
{
	u128 p = (u128)a * b;
	s128 q = (s128)(s64)a * (s64)c;
	return (u64)p ^ (u64)(p >> 64) ^ (u64)(q >> 64) * 3 ^ (u64)q * 5;
}

/* 128-bit add/sub: adc/sbb chains. */
TEST(addsub128)
{
	u128 x = (u128)a << 64 | b;
	u128 y = (u128)c << 64 | a;
	u128 s = x + y, d = x - y;
	return (u64)(s >> 64) * 31 + (u64)s * 17 + (u64)(d >> 64) * 7 + (u64)d +
	       (x < y) + ((s128)x < (s128)y) * 2;
}

/* Multiplication at every width, with truncation and sign extension. */
TEST(mulw)
{
	u8 p8 = (u8)a * (u8)b;
	s16 p16 = (s16)((s16)a * (s16)b);
	u32 p32 = (u32)a * (u32)b;
	s64 p64 = (s64)(a * b);
	s64 imm = (s64)(a * 1000003u);
	return p8 + ((u64)(u16)p16 << 8) + ((u64)p32 << 24) + (u64)p64 + (u64)imm * 3;
}

/* Sign and zero extension between all widths. */
TEST(extend)
{
	return (u64)(s64)(s8)a + (u64)(s64)(s16)b * 3 + (u64)(s64)(s32)c * 5 +
	       (u64)(u8)b * 7 + (u64)(u16)c * 11 + (u64)(u32)a * 13 +
	       (u64)(s32)(s8)c + (u64)(u32)(s16)a + (u64)(u16)(s8)b;
}

/* Negation, absolute value, min/max: neg, cmov, setcc, sbb tricks. */
TEST(minmax)
{
	s64 x = (s64)a, y = (s64)b;
	s32 u = (s32)a, v = (s32)c;
	s64 ax = x == (s64)(1ULL << 63) ? 0 : (x < 0 ? -x : x);
	u64 r = (u64)(x < y ? x : y) ^ (u64)(x > y ? x : y) * 3;
	r += (u64)(u < v ? u : v) + (a < b ? a : b) * 5 + (u64)ax;
	r += (u64)(c ? -(s64)(b & 0xffff) : 7);
	r += (u32)a > (u32)c ? 11 : 13;
	return r;
}

/* Conditional selection chains compiled to setcc/cmov/sbb. */
TEST(select)
{
	u64 r = 0;
	r |= (u64)((s8)a > (s8)b) << 0;
	r |= (u64)((u16)a >= (u16)c) << 1;
	r |= (u64)((s32)b <= (s32)c) << 2;
	r |= (u64)(a != c) << 3;
	r |= (u64)((a & b) == 0) << 4;
	r |= (u64)((s64)(a ^ b) < 0) << 5;
	r += (a > b) ? c : a + 1;
	r ^= (u64)-(u64)((u32)c < (u32)b);
	return r;
}

/* Increment and decrement at every width, exercising inc/dec flags. */
TEST(incdec)
{
	u8 x8 = a;
	u16 x16 = b;
	u32 x32 = c;
	u64 x64 = a ^ b;
	u64 n = 0;
	for (int i = 0; i < (int)(c & 7); i++) {
		x8++;
		x16--;
		x32 += (x8 == 0);
		x64 -= (x16 == 0xffff);
		n += (s8)x8 < 0;
		n += (s16)x16 > 0;
	}
	return x8 ^ (u64)x16 << 8 ^ (u64)x32 << 24 ^ x64 ^ n << 56;
}
