/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_LIVEPATCH_H
#define _LINUX_LIVEPATCH_H

/*
 * Placeholder: the livepatch API (struct klp_func, klp_object, klp_patch,
 * klp_enable_patch(), callbacks, shadow variables) is added here by the
 * livepatch-core work.  The core itself is written in Go and reached by
 * hypercalls numbered 0x100 and up (see asm/hypercall.h and ABI.md);
 * this header will hold the C side that a patch module's hook calls.
 */

#endif /* _LINUX_LIVEPATCH_H */
