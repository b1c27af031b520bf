/* Patterns typical of kernel C: bitfields, number formatting, list walks,
 * string helpers, mask macros, overflow-checked sizes. */
#include "difftest.h"

struct flagsword {
	unsigned int present : 1;
	unsigned int rw : 1;
	unsigned int level : 3;
	unsigned int order : 5;
	signed int delta : 7;
	unsigned int rest : 15;
};

TEST(bitfields)
{
	union {
		struct flagsword f;
		u32 raw;
	} u;
	u.raw = (u32)a;
	u.f.level += (unsigned)b;
	u.f.delta = (int)(s8)c >> 1;
	if (u.f.present)
		u.f.order ^= (unsigned)(c >> 8);
	u.f.rw = !u.f.rw;
	return u.raw ^ (u64)(s64)u.f.delta << 32 ^ (u64)u.f.level << 40;
}

/* Unsigned and signed decimal/hex formatting, as vsprintf does. */
static int fmt_num(char *buf, u64 v, int base, int sign)
{
	char tmp[24];
	int n = 0, len = 0;
	if (sign && (s64)v < 0) {
		buf[len++] = '-';
		v = -v;
	}
	do {
		unsigned d = v % (unsigned)base;
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= (unsigned)base;
	} while (v);
	while (n)
		buf[len++] = tmp[--n];
	buf[len] = 0;
	return len;
}

TEST(format)
{
	char buf[80];
	int n = fmt_num(buf, a, 10, 1);
	n += fmt_num(buf + n, b, 16, 0);
	n += fmt_num(buf + n, (u32)c, 8, 0);
	u64 h = 0;
	for (int i = 0; i < n; i++)
		h = h * 131 + (u8)buf[i];
	return h ^ (u64)n << 56;
}

struct node {
	struct node *next;
	u64 key;
	u32 weight;
};

static struct node nodes[32];

TEST(list)
{
	struct node *head = 0;
	for (int i = 0; i < 32; i++) {
		nodes[i].key = a * (u64)(i + 1) ^ b;
		nodes[i].weight = (u32)(c >> (i & 31));
		/* insert sorted by key */
		struct node **pp = &head;
		while (*pp && (*pp)->key < nodes[i].key)
			pp = &(*pp)->next;
		nodes[i].next = *pp;
		*pp = &nodes[i];
	}
	u64 h = 0, idx = 0;
	for (struct node *p = head; p; p = p->next, idx++)
		h = h * 31 + (u64)(p - nodes) + p->weight * idx;
	return h;
}

static int my_strcmp(const char *s, const char *t)
{
	while (*s && *s == *t)
		s++, t++;
	return (u8)*s - (u8)*t;
}

static const char *my_strchr(const char *s, int c)
{
	for (; *s; s++)
		if (*s == (char)c)
			return s;
	return 0;
}

static const char *const words[] = {"meminfo", "cmdline", "version", "stat", "uptime",
				    "loadavg", "cpuinfo", "", "meminfo2"};

TEST(strhelpers)
{
	const char *w = words[a % 9], *v = words[b % 9];
	const char *p = my_strchr(w, (int)('a' + c % 26));
	return (u64)(s64)my_strcmp(w, v) ^ (p ? (u64)(p - w) + 1 : 0) << 16;
}

#define GENMASK(h, l) (((~0ULL) << (l)) & (~0ULL >> (63 - (h))))

static u64 roundup_pow_of_two(u64 n)
{
	return n <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(n - 1));
}

static int fls64(u64 x) { return x ? 64 - __builtin_clzll(x) : 0; }

TEST(masks)
{
	unsigned h = a & 63, l = b & 63;
	if (l > h) {
		unsigned t = l;
		l = h;
		h = t;
	}
	u64 m = GENMASK(h, l);
	u64 r = roundup_pow_of_two(c >> 2);
	return m ^ r * 3 ^ (u64)fls64(a) << 56 ^ (u64)fls64(c & m) << 48;
}

/* size_t arithmetic checked like the kernel's array_size(). */
TEST(sizes)
{
	u64 bytes, total;
	if (__builtin_mul_overflow(a, b & 0xffff, &bytes))
		return ~0ULL;
	if (__builtin_add_overflow(bytes, c, &total))
		return ~1ULL;
	return total;
}

TEST(u16math)
{
	u16 x = a, y = (u16)b | 1, z = c;
	u16 q = x / y, r = x % y;
	s16 sx = (s16)x, sy = (s16)((u16)c | 1);
	s16 sq = (sy == -1) ? 0 : (s16)(sx / sy);
	u16 m = (u16)(x * z);
	return q | (u64)r << 16 | (u64)(u16)sq << 32 | (u64)m << 48;
}

/* Counting and packing bytes: setcc into arrays, sign tests. */
TEST(bytes)
{
	u8 v[16];
	u64 n = 0;
	for (int i = 0; i < 16; i++) {
		v[i] = (u8)(a >> (i * 4)) ^ (u8)(b >> i);
		n += (s8)v[i] < 0;
		n += (v[i] == (u8)c) << 4;
	}
	u64 packed = 0;
	for (int i = 0; i < 8; i++)
		packed |= (u64)(v[i] > v[i + 8]) << i;
	return n | packed << 32;
}

/* A compare-exchange loop: atomic max, as used for statistics. */
static u64 peak;

TEST(atomic_max)
{
	peak = b;
	u64 old = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	while (old < a && !__atomic_compare_exchange_n(&peak, &old, a, 0, __ATOMIC_SEQ_CST,
						       __ATOMIC_RELAXED))
		;
	u64 prev = __atomic_fetch_add(&peak, c & 0xff, __ATOMIC_SEQ_CST);
	return peak ^ prev << 1;
}
