/* Shared definitions for the differential tests. Every test function has
 * the signature u64 t_NAME(u64 a, u64 b, u64 c) and must not rely on
 * undefined behaviour, so that gcc's output for the emulator (kernel code
 * model) and for the host computes the same results. */
typedef unsigned long long u64;
typedef long long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned short u16;
typedef short s16;
typedef unsigned char u8;
typedef signed char s8;
typedef unsigned __int128 u128;
typedef __int128 s128;

#define TEST(name) u64 t_##name(u64 a, u64 b, u64 c)
