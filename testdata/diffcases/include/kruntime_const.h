/* x86's asm/runtime-const.h (Linux 6.11+): a pointer constant whose
 * immediate vmlinux's init code overwrites at boot (runtime_const_init),
 * found through one s32 (PC32) per use in section runtime_ptr_SYM. */
#ifndef KCASE_RUNTIME_CONST_H
#define KCASE_RUNTIME_CONST_H

#define runtime_const_ptr(sym) ({				\
	typeof(sym) __ret;					\
	asm volatile("mov %1,%0\n1:\n"				\
		".pushsection runtime_ptr_" #sym ",\"a\"\n\t"	\
		".long 1b - %c2 - .\n"				\
		".popsection"					\
		:"=r" (__ret)					\
		:"i" ((unsigned long)0x0123456789abcdefull),	\
		 "i" (sizeof(long)));				\
	__ret; })

#endif
