#include "kernel.h"

DEFINE_PER_CPU(unsigned int, irq_hits);
static DEFINE_PER_CPU(unsigned int, soft_hits);

unsigned int count_irq(unsigned int n)
{
	this_cpu_add_4(irq_hits, n + 1);
	return this_cpu_read_4(soft_hits);
}

void count_soft(void)
{
	this_cpu_add_4(soft_hits, 1);
}
