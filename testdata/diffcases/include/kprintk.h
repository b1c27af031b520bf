#ifndef KCASE_PRINTK_H
#define KCASE_PRINTK_H
#include "kcompiler.h"

#define KERN_SOH  "\001"
#define KERN_ERR  KERN_SOH "3"
#define KERN_INFO KERN_SOH "6"

int printk(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));
#define pr_info(fmt, ...) printk(KERN_INFO fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...)  printk(KERN_ERR fmt, ##__VA_ARGS__)

/* might_sleep(): the line number travels as an immediate in %esi. */
void __might_sleep(const char *file, int line);
#define might_sleep() __might_sleep(__FILE__, __LINE__)

#endif
