/* Shifts, rotates, bit operations and bit scans. */
#include "difftest.h"

TEST(shl64) { return a << (b & 63); }
TEST(shr64) { return a >> (b & 63); }
TEST(sar64) { return (u64)((s64)a >> (b & 63)); }
TEST(shift32)
{
	u32 x = a;
	s32 y = (s32)c;
	unsigned n = b & 31;
	return (u64)(x << n) ^ (u64)(x >> n) << 3 ^ (u64)(u32)(y >> n) << 7;
}
TEST(shift16)
{
	u16 x = a;
	s16 y = (s16)c;
	unsigned n = b & 15;
	return (u64)(u16)(x << n) ^ (u64)(u16)(x >> n) << 16 ^ (u64)(u16)(y >> n) << 32;
}
TEST(shift8)
{
	u8 x = a;
	s8 y = (s8)c;
	unsigned n = b & 7;
	return (u64)(u8)(x << n) ^ (u64)(u8)(x >> n) << 8 ^ (u64)(u8)(y >> n) << 16;
}
TEST(rotate)
{
	unsigned n = b & 63, m = c & 31, k = b & 15, j = c & 7;
	u64 r64 = (a << n) | (a >> (-n & 63));
	u64 q64 = (a >> n) | (a << (-n & 63));
	u32 x = a;
	u32 r32 = (x << m) | (x >> (-m & 31));
	u16 y = a;
	u16 r16 = (u16)((y << k) | (y >> (-k & 15)));
	u8 z = b;
	u8 r8 = (u8)((z >> j) | (z << (-j & 7)));
	return r64 ^ q64 * 3 ^ (u64)r32 << 5 ^ (u64)r16 << 17 ^ (u64)r8 << 40;
}
TEST(rotimm)
{
	u32 x = b;
	return ((a << 13) | (a >> 51)) ^ ((x >> 7) | (x << 25)) ^ ((a >> 1) | (a << 63));
}
/* 128-bit shifts compile to shld/shrd by %cl. */
TEST(shift128)
{
	u128 x = (u128)a << 64 | b;
	unsigned n = c & 127;
	u128 l = x << n, r = x >> n;
	s128 s = (s128)x >> n;
	return (u64)(l >> 64) ^ (u64)l * 3 ^ (u64)(r >> 64) * 5 ^ (u64)r * 7 ^ (u64)(s >> 64) * 11;
}
TEST(shldimm)
{
	u128 x = (u128)a << 64 | b;
	u128 y = x << 13;
	u128 z = x >> 29;
	return (u64)(y >> 64) ^ (u64)z ^ (u64)(z >> 64) * 3;
}
TEST(bitops)
{
	u64 r = a & b;
	r ^= a | c;
	r += ~b;
	r ^= a & ~c;
	r += (a & (1ULL << (c & 63))) != 0;
	r += b & -b;
	r ^= c & (c - 1);
	return r;
}
TEST(bsf)
{
	u64 x = a | (1ULL << (c & 63));
	u32 y = (u32)b | 0x10000;
	return __builtin_ctzll(x) | (u64)__builtin_clzll(x) << 8 |
	       (u64)__builtin_ctz(y) << 16 | (u64)__builtin_clz(y) << 24 |
	       (u64)__builtin_ffsll(a) << 32 | (u64)__builtin_ffs((int)b) << 40;
}
TEST(bswap)
{
	return __builtin_bswap64(a) ^ (u64)__builtin_bswap32((u32)b) << 3 ^
	       (u64)__builtin_bswap16((u16)c) << 7;
}
TEST(parity)
{
	return (u64)__builtin_parityll(a) | (u64)__builtin_parity((u32)b) << 1 |
	       (u64)__builtin_parity((u8)c) << 2;
}
__attribute__((target("popcnt"))) TEST(popcnt)
{
	return (u64)__builtin_popcountll(a) | (u64)__builtin_popcount((u32)b) << 8 |
	       (u64)__builtin_popcount((u16)c) << 16;
}
static int popcount_loop(u64 x)
{
	int n = 0;
	while (x) {
		x &= x - 1;
		n++;
	}
	return n;
}
TEST(popcount_sw) { return popcount_loop(a) + popcount_loop(b ^ c) * 100; }

/* Bit-array operations on memory: bt/bts/btr/btc with the lock prefix
 * (as Linux's set_bit and friends). */
static u64 bitmap[4];
TEST(bitmap)
{
	u64 n = a & 255, m = b & 255, r;
	unsigned char old;
	bitmap[0] = a;
	bitmap[1] = b;
	bitmap[2] = c;
	bitmap[3] = a ^ c;
	asm volatile("lock btsq %1, %0" : "+m"(bitmap[0]) : "r"(n & 63) : "memory");
	asm volatile("btq %2, %1; setc %0" : "=q"(old) : "m"(bitmap[0]), "r"(m & 63) : "cc");
	r = old;
	asm volatile("lock btrq %1, %0" : "+m"(bitmap[1]) : "r"(m & 63) : "memory");
	asm volatile("lock btcq $37, %0" : "+m"(bitmap[2]) : : "memory");
	/* Bit offsets beyond the operand address later words. */
	asm volatile("btq %2, %1; setc %0" : "=q"(old) : "m"(*(volatile u64(*)[4])bitmap), "r"(n) : "cc");
	r |= (u64)old << 1;
	asm volatile("btsq %1, %0" : "+m"(*(u64(*)[4])bitmap) : "r"(m) : "memory");
	return r ^ bitmap[0] ^ bitmap[1] * 3 ^ bitmap[2] * 5 ^ bitmap[3] * 7;
}
