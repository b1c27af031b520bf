/* Everything at once. */
#ifndef KCASE_KERNEL_H
#define KCASE_KERNEL_H
#include "kcompiler.h"
#include "kprintk.h"
#include "kbug.h"
#include "kuaccess.h"
#include "kjump_label.h"
#include "kalternative.h"
#include "katomic.h"
#include "kpercpu.h"
#include "kexport.h"
#include "kinit.h"
#endif
