#include "kernel.h"

int read_user_flags(const unsigned int __user *uptr, unsigned int *out)
{
	unsigned int v;
	int err = get_user_u32(&v, uptr);

	if (err)
		return err;
	*out = v & 0xfff;
	return 0;
}

int write_user_flags(unsigned int __user *uptr, unsigned int v)
{
	return put_user_u32(v | 0x100, uptr);
}
