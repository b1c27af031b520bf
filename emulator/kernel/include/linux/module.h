/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/compiler.h>
#include <linux/stringify.h>
#include <linux/export.h>
#include <linux/init.h>

/*
 * Loadable modules.  A module object is compiled with -DMODULE and
 * -DKBUILD_MODNAME='"name"'.  The .ko is a relocatable object ("ld -r"
 * with scripts/module.lds, no .gnu.linkonce.this_module):
 *
 *  - module_init(fn) defines the global symbol init_module as an alias
 *    of fn; module_exit(fn) defines cleanup_module.  The loader calls
 *    init_module() after relocation (non-zero = load fails, the module is
 *    freed) and cleanup_module() before unloading (if there is none, the
 *    module cannot be unloaded).
 *  - .modinfo holds NUL-terminated "key=value" strings: name= (from the
 *    generated NAME.mod.c), vermagic=, license=, description=...
 *  - undefined symbols must be exported by vmlinux (Module.symvers).
 *
 * In vmlinux (no MODULE), module_init()/module_exit() are not used.
 */
#define __MODULE_INFO(tag, name, info)					\
	static const char __UNIQUE_ID(name)[]				\
		__used __section(".modinfo") __aligned(1)		\
		= __stringify(tag) "=" info

#define MODULE_INFO(tag, info)		__MODULE_INFO(tag, tag, info)
#define MODULE_LICENSE(_license)	MODULE_INFO(license, _license)
#define MODULE_AUTHOR(_author)		MODULE_INFO(author, _author)
#define MODULE_DESCRIPTION(_desc)	MODULE_INFO(description, _desc)

#ifdef MODULE
typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

#define module_init(initfn)					\
	static inline initcall_t __maybe_unused __inittest(void)	\
	{ return initfn; }					\
	int init_module(void) __copy(initfn) __alias(initfn);

#define module_exit(exitfn)					\
	static inline exitcall_t __maybe_unused __exittest(void)	\
	{ return exitfn; }					\
	void cleanup_module(void) __copy(exitfn) __alias(exitfn);
#endif

#define THIS_MODULE_NAME	KBUILD_MODNAME

/*
 * A module's state, with Linux's values.  The module loader is Go code of
 * the machine and keeps its own records; the livepatch core gives a patch's
 * callbacks a struct module (klp_object.mod) with the state the module is
 * in when the callback runs: COMING before its init, GOING after its exit,
 * LIVE otherwise.
 */
enum module_state {
	MODULE_STATE_LIVE,	/* normal state */
	MODULE_STATE_COMING,	/* fully formed, running module_init */
	MODULE_STATE_GOING,	/* going away */
	MODULE_STATE_UNFORMED,	/* still setting it up */
};

#define MODULE_NAME_LEN		56

struct module {
	enum module_state state;
	char name[MODULE_NAME_LEN];
};

#endif /* _LINUX_MODULE_H */
