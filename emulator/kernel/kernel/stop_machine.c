// SPDX-License-Identifier: GPL-2.0
/*
 * stop_machine(): hold every CPU while one function runs.
 *
 * Each CPU has a stopper thread ("migration/N"), bound to it, which the
 * machine runs before any other task there.  Waking it is this kernel's
 * IPI: the CPU switches to its stopper at the next preemption point of
 * the task it is running (a user process at once; kernel code at
 * cond_resched(), a sleep or the return to user space, as under
 * voluntary preemption).  The stoppers then step together through a
 * small state machine on a shared counter (prepare, disable interrupts,
 * run, exit): each spins with cpu_relax() until the state changes, acks
 * it, and the last ack moves every CPU to the next state.  fn runs on
 * CPU 0 in the "run" state while the others spin.
 *
 * The stoppers are created by the first stop_machine(), so that a system
 * that never stops keeps the task ids it always had.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/sched.h>
#include <linux/percpu.h>
#include <linux/atomic.h>
#include <linux/stop_machine.h>
#include <asm/processor.h>
#include <asm/hypercall.h>

struct cpu_stopper {
	int pid;			/* the stopper thread, 0 before the first use */
	cpu_stop_fn_t fn;		/* the work queued for it, NULL when none */
	void *arg;
};

static DEFINE_PER_CPU(struct cpu_stopper, cpu_stopper);

enum multi_stop_state {
	MULTI_STOP_NONE,
	MULTI_STOP_PREPARE,
	MULTI_STOP_DISABLE_IRQ,
	MULTI_STOP_RUN,
	MULTI_STOP_EXIT,
};

struct multi_stop_data {
	cpu_stop_fn_t fn;
	void *data;
	int active_cpu;			/* the CPU that runs fn */
	int num_threads;
	atomic_t thread_ack;		/* CPUs yet to ack the current state */
	atomic_t running;		/* CPUs not yet out of multi_cpu_stop() */
	int state;
	u64 state_time;			/* when state last changed, on the writer's clock */
	int ret;
	int caller;			/* pid woken when the last CPU leaves */
	u64 enter[NR_CPUS];		/* when each CPU stopped */
	u64 leave[NR_CPUS];		/* when each CPU went back to work */
};

static atomic_t stop_machine_busy = ATOMIC_INIT(0);

static void set_state(struct multi_stop_data *msdata, int newstate)
{
	atomic_set(&msdata->thread_ack, msdata->num_threads);
	WRITE_ONCE(msdata->state_time, ktime_get_ns());
	barrier();
	WRITE_ONCE(msdata->state, newstate);
}

/*
 * The machine's CPUs run one after the other within a round, each on its
 * own clock, so a CPU can read a value another one wrote "later" on the
 * writer's clock.  A CPU that sees a new state waits until its own clock
 * has passed the moment it was written, as it would wait for the cache
 * line on a real machine.
 */
static void wait_state_time(struct multi_stop_data *msdata)
{
	while (ktime_get_ns() < READ_ONCE(msdata->state_time))
		cpu_relax();
}

/* The last CPU to ack a state moves everybody to the next one. */
static void ack_state(struct multi_stop_data *msdata)
{
	if (atomic_dec_return(&msdata->thread_ack) == 0)
		set_state(msdata, msdata->state + 1);
}

static noinline int multi_cpu_stop(void *data)
{
	struct multi_stop_data *msdata = data;
	int cpu = smp_processor_id();
	int curstate = MULTI_STOP_NONE, newstate;
	int caller = msdata->caller;
	int err = 0;

	msdata->enter[cpu] = ktime_get_ns();
	do {
		cpu_relax();
		newstate = READ_ONCE(msdata->state);
		if (newstate != curstate) {
			wait_state_time(msdata);
			curstate = newstate;
			switch (curstate) {
			case MULTI_STOP_DISABLE_IRQ:
				/* The machine has no interrupts to mask. */
				break;
			case MULTI_STOP_RUN:
				if (cpu == msdata->active_cpu)
					err = msdata->fn(msdata->data);
				break;
			default:
				break;
			}
			ack_state(msdata);
		}
	} while (curstate != MULTI_STOP_EXIT);
	msdata->leave[cpu] = ktime_get_ns();
	if (cpu == msdata->active_cpu)
		msdata->ret = err;
	/* msdata lives on the caller's stack: not touched after this. */
	if (atomic_dec_return(&msdata->running) == 0)
		wake_up_pid(caller);
	return err;
}

static int cpu_stopper_thread(void *unused)
{
	struct cpu_stopper *stopper = this_cpu_ptr(&cpu_stopper);
	cpu_stop_fn_t fn;

	for (;;) {
		fn = READ_ONCE(stopper->fn);
		if (!fn) {
			schedule();
			continue;
		}
		WRITE_ONCE(stopper->fn, NULL);
		fn(stopper->arg);
	}
	return 0;
}

static void cpu_stop_init(void)
{
	char name[16];
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cpu_stopper *stopper = per_cpu_ptr(&cpu_stopper, cpu);

		if (stopper->pid)
			continue;
		snprintf(name, sizeof(name), "migration/%d", cpu);
		stopper->pid = hypercall4(HC_STOPPER_CREATE, (unsigned long)cpu_stopper_thread,
					  0, (unsigned long)name, cpu);
	}
}

int stop_machine_timed(cpu_stop_fn_t fn, void *data, u64 *pause_ns)
{
	struct multi_stop_data msdata = {
		.fn = fn,
		.data = data,
		.active_cpu = 0,
		.num_threads = nr_cpu_ids,
		.caller = current->pid,
	};
	u64 first = ~0ULL, last = 0;
	int cpu;

	if (atomic_cmpxchg(&stop_machine_busy, 0, 1) != 0)
		return -EBUSY;
	cpu_stop_init();
	atomic_set(&msdata.running, msdata.num_threads);
	set_state(&msdata, MULTI_STOP_PREPARE);
	for_each_possible_cpu(cpu) {
		struct cpu_stopper *stopper = per_cpu_ptr(&cpu_stopper, cpu);

		stopper->arg = &msdata;
		WRITE_ONCE(stopper->fn, multi_cpu_stop);
		wake_up_pid(stopper->pid);
	}
	/* This CPU switches to its stopper when the caller sleeps here. */
	while (atomic_read(&msdata.running))
		schedule();
	for_each_possible_cpu(cpu) {
		if (msdata.enter[cpu] < first)
			first = msdata.enter[cpu];
		if (msdata.leave[cpu] > last)
			last = msdata.leave[cpu];
	}
	/*
	 * The stopper that woke us may have left earlier, on its clock, than
	 * another one (see wait_state_time()): we go on once the last one
	 * has left on ours too.
	 */
	while (ktime_get_ns() < last)
		cpu_relax();
	if (pause_ns)
		*pause_ns = last - first;
	atomic_set(&stop_machine_busy, 0);
	return msdata.ret;
}
EXPORT_SYMBOL_GPL(stop_machine_timed);
