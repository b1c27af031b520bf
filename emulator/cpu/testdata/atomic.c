/* Atomics: lock xadd, lock cmpxchg, xchg, lock and/or/xor/add/sub, and
 * the __sync builtins. */
#include "difftest.h"

static u64 v64;
static u32 v32;
static u16 v16;
static u8 v8;

TEST(atomic64)
{
	v64 = a;
	u64 r = __atomic_fetch_add(&v64, b, __ATOMIC_SEQ_CST);
	r ^= __atomic_add_fetch(&v64, c, __ATOMIC_RELAXED) * 3;
	r ^= __atomic_exchange_n(&v64, r, __ATOMIC_ACQ_REL) * 5;
	u64 expect = c & 1 ? r : b;
	int ok = __atomic_compare_exchange_n(&v64, &expect, a ^ c, 0,
					     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&v64, b << 3, __ATOMIC_SEQ_CST);
	__atomic_fetch_and(&v64, ~c, __ATOMIC_SEQ_CST);
	__atomic_fetch_xor(&v64, a, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&v64, 17, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v64, __atomic_load_n(&v64, __ATOMIC_SEQ_CST) + 1, __ATOMIC_SEQ_CST);
	return r ^ expect * 7 ^ v64 * 11 ^ ok;
}

TEST(atomic32)
{
	v32 = a;
	u32 r = __sync_fetch_and_add(&v32, (u32)b);
	r += __sync_sub_and_fetch(&v32, (u32)c);
	int swapped = __sync_bool_compare_and_swap(&v32, (u32)(c & 2 ? r : v32), (u32)a);
	u32 old = __sync_val_compare_and_swap(&v32, (u32)b, (u32)c);
	u32 t = __sync_lock_test_and_set(&v32, old + 1);
	int zero = __atomic_sub_fetch(&v32, t + 1, __ATOMIC_SEQ_CST) == 0;
	int neg = (s32)__atomic_add_fetch(&v32, (u32)a, __ATOMIC_SEQ_CST) < 0;
	return r ^ (u64)old << 32 ^ t * 3 ^ v32 * 5 ^ swapped ^ zero << 1 ^ neg << 2;
}

TEST(atomic_small)
{
	v16 = a;
	v8 = b;
	u16 r16 = __atomic_fetch_add(&v16, (u16)c, __ATOMIC_SEQ_CST);
	u8 r8 = __atomic_exchange_n(&v8, (u8)c, __ATOMIC_SEQ_CST);
	u8 e8 = (u8)a;
	int ok = __atomic_compare_exchange_n(&v8, &e8, (u8)(a >> 8), 0,
					     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&v16, (u16)b, __ATOMIC_SEQ_CST);
	int bit = (__atomic_fetch_or(&v16, 1 << (c & 15), __ATOMIC_SEQ_CST) >> (c & 15)) & 1;
	return r16 ^ (u64)r8 << 16 ^ (u64)e8 << 24 ^ (u64)v16 << 32 ^ (u64)v8 << 48 ^ ok ^ bit << 1;
}
