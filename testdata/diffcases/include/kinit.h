#ifndef KCASE_INIT_H
#define KCASE_INIT_H
#include "kcompiler.h"

/* As in Linux 6.x: init code is cold, lives in .init.text, keeps fentry. */
#define __init     __section(".init.text") __cold
#define __initdata __section(".init.data")

typedef int (*initcall_t)(void);
#define device_initcall(fn) \
	static initcall_t __initcall_##fn __used __section(".initcall6.init") = fn

#endif
