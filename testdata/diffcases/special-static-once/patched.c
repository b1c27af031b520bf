#include "kernel.h"

#define printk_once(fmt, ...) ({					\
	static bool __section(".data.once") __print_once;		\
	if (!__print_once) {						\
		__print_once = true;					\
		printk(fmt, ##__VA_ARGS__);				\
	}								\
})

int legacy_ioctl(int cmd)
{
	printk_once("legacy ioctl %d used\n", cmd);
	return cmd & 0xfff;
}
