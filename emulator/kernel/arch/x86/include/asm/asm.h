/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_ASM_H
#define _ASM_X86_ASM_H

#ifdef __ASSEMBLY__
# define __ASM_FORM(x)	x
#else
# define __ASM_FORM(x)	" " #x " "
#endif

#define _ASM_PTR	__ASM_FORM(.quad)
#define _ASM_ALIGN	__ASM_FORM(.balign 8)

#define ASM_UD2		".byte 0x0f, 0x0b"

#endif
