/* Exact flags: each test sets the arithmetic flags from c, runs one
 * instruction on a and b, and returns the result mixed with the flags the
 * architecture defines for it (undefined flags are masked out). */
#include "difftest.h"

#define ALL 0x8d5ULL /* OF SF ZF AF PF CF */
#define NOAF 0x8c5ULL
#define NOOF (ALL & ~0x800ULL)
#define NOAFOF 0x0c5ULL
#define CFOF 0x801ULL
#define CFZF 0x041ULL

#define MIX(f, m, r) (((r) * 0x9e3779b97f4a7c15ULL) ^ ((f) & (m)) ^ ((f) & (m)) << 40)

/* Two-operand instruction "insn %b, %a" at a width given by modifiers in
 * insn, e.g. "addl %k[b], %k[a]". */
#define FL2(name, insn, mask)                                               \
	TEST(fl_##name)                                                     \
	{                                                                   \
		u64 f = c & ALL;                                            \
		asm volatile("pushq %[f]; popfq; " insn "; pushfq; popq %[f]" \
			     : [f] "+r"(f), [a] "+r"(a)                     \
			     : [b] "r"(b)                                   \
			     : "cc");                                       \
		return MIX(f, mask, a);                                     \
	}

/* Shift-style instruction by %cl. */
#define FLCL(name, insn, mask)                                              \
	TEST(fl_##name)                                                     \
	{                                                                   \
		u64 f = c & ALL;                                            \
		asm volatile("pushq %[f]; popfq; " insn "; pushfq; popq %[f]" \
			     : [f] "+r"(f), [a] "+r"(a)                     \
			     : [b] "c"(b), [d] "r"(c)                       \
			     : "cc");                                       \
		return MIX(f, mask, a);                                     \
	}

FL2(add8, "addb %b[b], %b[a]", ALL)
FL2(add16, "addw %w[b], %w[a]", ALL)
FL2(add32, "addl %k[b], %k[a]", ALL)
FL2(add64, "addq %[b], %[a]", ALL)
FL2(adc8, "adcb %b[b], %b[a]", ALL)
FL2(adc32, "adcl %k[b], %k[a]", ALL)
FL2(adc64, "adcq %[b], %[a]", ALL)
FL2(sub8, "subb %b[b], %b[a]", ALL)
FL2(sub16, "subw %w[b], %w[a]", ALL)
FL2(sub32, "subl %k[b], %k[a]", ALL)
FL2(sub64, "subq %[b], %[a]", ALL)
FL2(sbb8, "sbbb %b[b], %b[a]", ALL)
FL2(sbb16, "sbbw %w[b], %w[a]", ALL)
FL2(sbb64, "sbbq %[b], %[a]", ALL)
FL2(cmp32, "cmpl %k[b], %k[a]", ALL)
FL2(cmp64imm, "cmpq $-5, %[a]", ALL)
FL2(and32, "andl %k[b], %k[a]", NOAF)
FL2(or8, "orb %b[b], %b[a]", NOAF)
FL2(xor64, "xorq %[b], %[a]", NOAF)
FL2(test16, "testw %w[b], %w[a]", NOAF)
FL2(inc8, "incb %b[a]", ALL)
FL2(inc64, "incq %[a]", ALL)
FL2(dec16, "decw %w[a]", ALL)
FL2(dec32, "decl %k[a]", ALL)
FL2(neg8, "negb %b[a]", ALL)
FL2(neg64, "negq %[a]", ALL)
FL2(not32, "notl %k[a]", ALL)
FL2(shl1_32, "shll $1, %k[a]", NOAF)
FL2(shr1_8, "shrb $1, %b[a]", NOAF)
FL2(sar1_64, "sarq $1, %[a]", NOAF)
FL2(shl5_16, "shlw $5, %w[a]", NOAFOF)
FL2(shr7_64, "shrq $7, %[a]", NOAFOF)
FL2(sar3_8, "sarb $3, %b[a]", NOAFOF)
FL2(rol1_32, "roll $1, %k[a]", ALL)
FL2(ror1_8, "rorb $1, %b[a]", ALL)
FL2(rol9_64, "rolq $9, %[a]", NOOF)
FL2(rcl1_16, "rclw $1, %w[a]", ALL)
FL2(rcr1_64, "rcrq $1, %[a]", ALL)
FL2(rcr5_8, "rcrb $5, %b[a]", NOOF)
FL2(imul32, "imull %k[b], %k[a]", CFOF)
FL2(imul64, "imulq %[b], %[a]", CFOF)
FL2(imul16i, "imulw $-300, %w[b], %w[a]", CFOF)
FL2(bt64, "btq %[b], %[a]", CFZF)
FL2(bts32, "btsl %k[b], %k[a]", CFZF)
FL2(btr64i, "btrq $45, %[a]", CFZF)
FL2(btc16, "btcw %w[b], %w[a]", CFZF)
FL2(bswap32, "bswapl %k[a]", ALL)

/* Shifts by %cl, including counts of zero (flags unchanged) and counts
 * larger than the operand. */
FLCL(shlcl8, "shlb %%cl, %b[a]", NOAFOF)
FLCL(shlcl64, "shlq %%cl, %[a]", NOAFOF)
FLCL(shrcl16, "shrw %%cl, %w[a]", NOAFOF)
FLCL(sarcl32, "sarl %%cl, %k[a]", NOAFOF)
FLCL(rolcl16, "rolw %%cl, %w[a]", NOOF)
FLCL(rorcl64, "rorq %%cl, %[a]", NOOF)
FLCL(rclcl32, "rcll %%cl, %k[a]", NOOF)
FLCL(rcrcl8, "rcrb %%cl, %b[a]", NOOF)
FLCL(shldcl64, "shldq %%cl, %[d], %[a]", NOAFOF)
FLCL(shrdcl32, "shrdl %%cl, %k[d], %k[a]", NOAFOF)
FLCL(shld1_16, "shldw $1, %w[d], %w[a]", NOAF)

/* Flags that depend on a count of exactly one, by %cl. */
TEST(fl_shcl1)
{
	u64 f = c & ALL, x = a, y = b;
	asm volatile("pushq %[f]; popfq; shlq %%cl, %[x]; pushfq; popq %[f]"
		     : [f] "+r"(f), [x] "+r"(x)
		     : "c"(1)
		     : "cc");
	u64 g = c & ALL;
	asm volatile("pushq %[g]; popfq; sarl %%cl, %k[y]; pushfq; popq %[g]"
		     : [g] "+r"(g), [y] "+r"(y)
		     : "c"(1)
		     : "cc");
	return MIX(f, NOAF, x) ^ MIX(g, NOAF, y) * 3;
}

/* One-operand multiply and divide: rdx:rax results. */
TEST(fl_mul)
{
	u64 f = c & ALL, lo = a, hi;
	asm volatile("pushq %[f]; popfq; mulq %[b]; pushfq; popq %[f]"
		     : [f] "+r"(f), "+a"(lo), "=d"(hi)
		     : [b] "r"(b)
		     : "cc");
	u64 g = c & ALL, lo2 = a, hi2;
	asm volatile("pushq %[g]; popfq; imull %k[b]; pushfq; popq %[g]"
		     : [g] "+r"(g), "+a"(lo2), "=d"(hi2)
		     : [b] "r"(b)
		     : "cc");
	u64 h = c & ALL, ax = a;
	asm volatile("pushq %[h]; popfq; mulb %b[b]; pushfq; popq %[h]"
		     : [h] "+r"(h), "+a"(ax)
		     : [b] "q"(b)
		     : "cc");
	return MIX(f, CFOF, lo ^ hi * 3) ^ MIX(g, CFOF, lo2 ^ hi2 * 5) ^ MIX(h, CFOF, ax) * 7;
}

TEST(fl_div)
{
	u64 q = a, r = c % (b | 1), d = b | 1;
	asm("divq %[d]" : "+a"(q), "+d"(r) : [d] "r"(d) : "cc");
	s64 sq = (s64)a, sr = (s64)a < 0 ? -1 : 0, sd = (s64)(b | 1);
	if (sd == -1)
		sd = 3;
	asm("cqto; idivq %[d]" : "+a"(sq), "=d"(sr) : [d] "r"(sd) : "cc");
	u32 q32 = (u32)a, r32 = (u32)c % ((u32)b | 1), d32 = (u32)b | 1;
	asm("divl %[d]" : "+a"(q32), "+d"(r32) : [d] "r"(d32) : "cc");
	u64 ax = (u16)a & 0x7fff;
	u8 d8 = (u8)(b >> 8) | 0x80;
	asm("divb %[d]" : "+a"(ax) : [d] "q"(d8) : "cc");
	s16 w = (s16)c;
	s8 d8s = (s8)((b >> 1 & 0x3f) | 0x40);
	if (b & 1)
		d8s = (s8)-d8s;
	u64 wax = (u16)(s16)(w / 128);
	asm("idivb %[d]" : "+a"(wax) : [d] "q"(d8s) : "cc");
	return q ^ r * 3 ^ (u64)sq * 5 ^ (u64)sr * 7 ^ q32 ^ (u64)r32 << 32 ^ ax << 16 ^ (wax & 0xffff) << 40;
}

TEST(fl_bsf)
{
	u64 f = c & ALL, x = c;
	asm volatile("pushq %[f]; popfq; bsfq %[a], %[x]; pushfq; popq %[f]"
		     : [f] "+r"(f), [x] "+r"(x)
		     : [a] "r"(a & b)
		     : "cc");
	u64 g = c & ALL, y = b;
	asm volatile("pushq %[g]; popfq; bsrl %k[a], %k[y]; pushfq; popq %[g]"
		     : [g] "+r"(g), [y] "+r"(y)
		     : [a] "r"(a & (c | 0xff00))
		     : "cc");
	return MIX(f, 0x40, x) ^ MIX(g, 0x40, y) * 3;
}

__attribute__((target("popcnt"))) TEST(fl_popcnt)
{
	u64 f = c & ALL, x;
	asm volatile("pushq %[f]; popfq; popcntq %[a], %[x]; pushfq; popq %[f]"
		     : [f] "+r"(f), [x] "=r"(x)
		     : [a] "r"(a & b)
		     : "cc");
	return MIX(f, ALL, x);
}

TEST(fl_setcc)
{
	u64 r = 0;
	u8 t;
#define SET(cc, i)                                                          \
	asm volatile("cmpq %[b], %[a]; set" cc " %[t]"                      \
		     : [t] "=q"(t)                                          \
		     : [a] "r"(a), [b] "r"(b)                               \
		     : "cc");                                               \
	r |= (u64)t << i;
	SET("o", 0) SET("no", 1) SET("b", 2) SET("ae", 3) SET("e", 4)
	SET("ne", 5) SET("be", 6) SET("a", 7) SET("s", 8) SET("ns", 9)
	SET("p", 10) SET("np", 11) SET("l", 12) SET("ge", 13) SET("le", 14)
	SET("g", 15)
	return r;
}

TEST(fl_cmov)
{
	u64 x = a, y = c;
	u32 z = (u32)b;
	asm("addl %k[b], %k[z]; cmovol %k[c], %k[z]; cmovpq %[b], %[x]; cmovleq %[c], %[y]"
	    : [x] "+r"(x), [y] "+r"(y), [z] "+r"(z)
	    : [b] "r"(b), [c] "r"(a)
	    : "cc");
	return x ^ y * 3 ^ (u64)z << 7;
}

TEST(fl_cmpxchg)
{
	u64 f = c & ALL, mem = a, acc = (c & 1) ? a : b;
	asm volatile("pushq %[f]; popfq; lock cmpxchgq %[n], %[m]; pushfq; popq %[f]"
		     : [f] "+r"(f), [m] "+m"(mem), "+a"(acc)
		     : [n] "r"(c)
		     : "cc", "memory");
	u64 g = c & ALL, m2 = a;
	u64 add = b;
	asm volatile("pushq %[g]; popfq; lock xaddq %[n], %[m]; pushfq; popq %[g]"
		     : [g] "+r"(g), [m] "+m"(m2), [n] "+r"(add)
		     :
		     : "cc", "memory");
	return MIX(f, ALL, mem ^ acc * 3) ^ MIX(g, ALL, m2 ^ add * 5) * 7;
}

TEST(fl_pushf_cmc)
{
	u64 f = c & ALL;
	u64 x = a;
	asm volatile("pushq %[f]; popfq; cmc; adcq %[b], %[x]; stc; rclq $1, %[x]; clc; sbbq $0, %[x]; pushfq; popq %[f]"
		     : [f] "+r"(f), [x] "+r"(x)
		     : [b] "r"(b)
		     : "cc");
	return MIX(f, ALL, x);
}

TEST(fl_lahf)
{
	u64 x = a, r;
	asm volatile("addq %[b], %[x]; lahf; movzbl %%ah, %k[r]"
		     : [x] "+r"(x), [r] "=Q"(r)
		     : [b] "r"(b)
		     : "cc", "rax");
	return r ^ x;
}
