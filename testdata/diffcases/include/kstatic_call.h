/*
 * Static calls, shaped like x86-64's: static_call_void(name) calls the
 * trampoline __SCT__name and records the call site in .static_call_sites
 * as { site, key }, two 32-bit PC-relative words (objtool writes them in
 * the kernel; here the asm does): STATIC_CALL_STRUCT_SIZE=8.
 * static_call_query(name) reads the function the key holds.
 */
#ifndef KCASE_STATIC_CALL_H
#define KCASE_STATIC_CALL_H
#include "kcompiler.h"

struct static_call_key {
	void *func;
};

#define DECLARE_STATIC_CALL(name, fn)						\
	extern struct static_call_key __SCK__##name;				\
	extern __typeof__(fn) __SCT__##name

/* A call of a static call of type void (void). */
#define static_call_void(name)							\
	asm volatile("1: call __SCT__" #name "\n\t"				\
		     ".pushsection .static_call_sites, \"a\"\n\t"		\
		     ".long 1b - .\n\t"						\
		     ".long __SCK__" #name " - .\n\t"				\
		     ".popsection"						\
		     : : : "memory", "cc", "rax", "rcx", "rdx", "rsi", "rdi",	\
		       "r8", "r9", "r10", "r11")

#define static_call_query(name) READ_ONCE(__SCK__##name.func)

#endif
