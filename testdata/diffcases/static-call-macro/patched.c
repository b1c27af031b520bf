#include "kernel.h"
#include "kstatic_call.h"
#include "kpatch-macros.h"

void kvm_hook_default(void);
DECLARE_STATIC_CALL(kvm_hook, kvm_hook_default);

noinline int run_hook(int v)
{
	KPATCH_STATIC_CALL(kvm_hook)();
	return v + 1;
}
