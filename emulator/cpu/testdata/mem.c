/* Memory and string operations: copy/fill/compare loops, rep-prefixed
 * string instructions, struct copies. */
#include "difftest.h"

static u8 buf1[512], buf2[512];

static void fill(u8 *p, int n, u64 seed)
{
	for (int i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = seed >> 56;
	}
}

static u64 sum(const u8 *p, int n)
{
	u64 h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

TEST(copyloop)
{
	int n = a & 255, off = b & 63;
	fill(buf1, 320, c);
	for (int i = 0; i < n; i++)
		buf2[i + off] = buf1[i];
	return sum(buf2, 320);
}

TEST(repmovs)
{
	unsigned long n = a & 255, off = b & 63;
	void *d = buf2 + off, *s = buf1 + (c & 31);
	fill(buf1, 320, c);
	asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	n = (a >> 8) & 31;
	d = buf2 + 256;
	s = buf1;
	asm volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	n = (a >> 16) & 63;
	d = buf2 + 100;
	s = buf1 + 50;
	asm volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return sum(buf2, 512) ^ ((u64)d - (u64)buf2) ^ ((u64)s - (u64)buf1) * 3;
}

TEST(repstos)
{
	unsigned long n = a & 255;
	void *d = buf2 + (b & 63);
	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	n = (a >> 8) & 31;
	d = buf2 + 200;
	asm volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(b) : "memory");
	n = (a >> 16) & 31;
	d = buf2 + 80;
	asm volatile("rep stosw" : "+D"(d), "+c"(n) : "a"(a) : "memory");
	return sum(buf2, 512);
}

/* Backwards copy with the direction flag set. */
TEST(repmovs_std)
{
	unsigned long n = a & 127;
	void *d = buf2 + 300, *s = buf1 + 200;
	fill(buf1, 320, b);
	asm volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory", "cc");
	return sum(buf2, 512) ^ ((u64)d - (u64)buf2);
}

TEST(repcmps)
{
	unsigned long n = (a & 63) + 1;
	const void *p = buf1, *q = buf2;
	unsigned char ne;
	fill(buf1, 128, c);
	fill(buf2, 128, c);
	buf2[b & 127] ^= (u8)(a >> 8) | 1;
	asm volatile("repe cmpsb; setne %0"
		     : "=q"(ne), "+S"(p), "+D"(q), "+c"(n)
		     :
		     : "cc", "memory");
	return ne | n << 8 | ((u64)p - (u64)buf1) << 32;
}

TEST(repscas)
{
	unsigned long n = 200;
	const void *p = buf1;
	u8 key = c;
	fill(buf1, 256, a);
	buf1[b & 255] = key;
	asm volatile("repne scasb" : "+D"(p), "+c"(n) : "a"(key) : "cc", "memory");
	return n ^ ((u64)p - (u64)buf1) << 16;
}

TEST(lods)
{
	const void *p = buf1;
	u64 acc = 0, v = c;
	fill(buf1, 64, a);
	for (int i = 0; i < (int)(b & 15); i++) {
		asm volatile("lodsw" : "+S"(p), "+a"(v) : : "memory");
		acc = acc * 31 + v;
	}
	return acc;
}

static u64 my_strlen(const char *s)
{
	const char *p = s;
	while (*p)
		p++;
	return p - s;
}

static int my_memcmp(const u8 *x, const u8 *y, int n)
{
	for (int i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

TEST(strings)
{
	char s[64];
	int n = a & 63;
	for (int i = 0; i < n; i++)
		s[i] = 'a' + (char)((b >> (i & 31)) & 15);
	s[n] = 0;
	fill(buf1, 64, c);
	fill(buf2, 64, c);
	buf2[a & 63] += (u8)b;
	return my_strlen(s) | (u64)(my_memcmp(buf1, buf2, 64) & 0xff) << 8;
}

struct big {
	u64 v[20];
	u32 w;
	u8 tail[3];
};

static struct big gbig;

static __attribute__((noinline)) struct big make_big(u64 a, u64 b)
{
	struct big r;
	for (int i = 0; i < 20; i++)
		r.v[i] = a * (u64)i + b;
	r.w = a;
	r.tail[0] = b;
	r.tail[1] = b >> 8;
	r.tail[2] = b >> 16;
	return r;
}

TEST(structcopy)
{
	struct big x = make_big(a, b);
	struct big y;
	gbig = x;
	y = gbig;
	y.v[c % 20] ^= c;
	u64 h = 0;
	for (int i = 0; i < 20; i++)
		h = h * 31 + y.v[i];
	return h ^ y.w ^ y.tail[0] ^ (u64)y.tail[2] << 8;
}

struct small {
	u16 a;
	u8 b;
	u32 c;
	u64 d;
};

TEST(structsmall)
{
	struct small s[4];
	for (int i = 0; i < 4; i++) {
		s[i].a = a >> (i * 8);
		s[i].b = b >> i;
		s[i].c = c + i;
		s[i].d = a ^ b ^ i;
	}
	struct small t = s[c & 3];
	s[0] = s[b & 3];
	return t.a ^ (u64)t.b << 16 ^ (u64)t.c << 24 ^ t.d ^ s[0].d * 3 ^ s[0].c;
}
