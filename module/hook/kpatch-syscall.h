/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatch-syscall.h: system calls a live patch can change, under kpatch's
 * names.
 *
 * SYSCALL_DEFINEn(name, ...) puts the body of a system call in
 * __do_sys_name(), which the kernel declares "static inline", and every
 * inline function of the kernel is notrace: when gcc keeps such a body out
 * of line (a large one, or -fno-inline-functions-called-once on s390x), the
 * changed function has no ftrace call site and cannot be patched.  A patch
 * replaces SYSCALL_DEFINEn with KPATCH_SYSCALL_DEFINEn and changes nothing
 * else:
 *
 *	KPATCH_SYSCALL_DEFINE1(umask, int, mask)
 *	{
 *		...
 *	}
 *
 * The architecture's own SYSCALL_DEFINEn still makes the entry points and
 * the tracing metadata, exactly as in the running kernel:
 *
 *	x86-64   __x64_sys_name, and __ia32_sys_name with IA32_EMULATION
 *	s390x    __s390x_sys_name (an alias of __se_sys_name), and
 *	         __s390_sys_name with COMPAT
 *	ppc64le  sys_name
 *	arm64    __arm64_sys_name
 *	others   sys_name (an alias of __se_sys_name)
 *
 * but its __do_sys_name() only calls __kpatch_do_sys_name(), which holds the
 * body.  gcc inlines the one-line __do_sys_name() into the entry points, so
 * those change (they have ftrace call sites: the patch redirects them) and
 * call __kpatch_do_sys_name(), a new function of the patch (or inline the
 * body into them); the running kernel's __do_sys_name() is never patched.
 *
 * KPATCH_SYSCALL_DEFINE0 is SYSCALL_DEFINE0: a system call without
 * arguments has its body in an ordinary function, which can be patched.
 *
 * On ppc64le the call to __kpatch_do_sys_name() is kept out of tail
 * position: the diff engine refuses a changed function that ends in a
 * sibling call there.
 */
#ifndef KPATCH_SYSCALL_H
#define KPATCH_SYSCALL_H

#define KPATCH_SYSCALL_DEFINE0(sname)	SYSCALL_DEFINE0(sname)
#define KPATCH_SYSCALL_DEFINE1(name, ...) __KPATCH_SYSCALL_DEFINEx(1, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE2(name, ...) __KPATCH_SYSCALL_DEFINEx(2, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE3(name, ...) __KPATCH_SYSCALL_DEFINEx(3, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE4(name, ...) __KPATCH_SYSCALL_DEFINEx(4, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE5(name, ...) __KPATCH_SYSCALL_DEFINEx(5, _##name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE6(name, ...) __KPATCH_SYSCALL_DEFINEx(6, _##name, __VA_ARGS__)

#ifdef CONFIG_PPC64
/* No sibling call: the result comes back before the return. */
#define __KPATCH_SYSCALL_FORWARD(x, name, ...)					\
	long ret = __kpatch_do_sys##name(__MAP(x, __SC_ARGS, __VA_ARGS__));	\
	barrier();								\
	return ret
#else
#define __KPATCH_SYSCALL_FORWARD(x, name, ...)					\
	return __kpatch_do_sys##name(__MAP(x, __SC_ARGS, __VA_ARGS__))
#endif

/*
 * The kernel's SYSCALL_DEFINEx, whose __do_sys##name body forwards to
 * __kpatch_do_sys##name, whose body follows the macro.  The forwarder is
 * always inlined (it would be a changed notrace function otherwise).
 */
#define __KPATCH_SYSCALL_DEFINEx(x, name, ...)					\
	static __always_inline long __do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__)); \
	static inline long __kpatch_do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__)); \
	SYSCALL_DEFINEx(x, name, __VA_ARGS__)					\
	{									\
		__KPATCH_SYSCALL_FORWARD(x, name, __VA_ARGS__);			\
	}									\
	static inline long __kpatch_do_sys##name(__MAP(x, __SC_DECL, __VA_ARGS__))

#endif /* KPATCH_SYSCALL_H */
