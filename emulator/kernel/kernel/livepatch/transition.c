// SPDX-License-Identifier: GPL-2.0
/*
 * The stack checks of the consistency models, run as kernel code so that
 * what they cost is the time their instructions take:
 *
 *   klp_stop_machine_check()       kpatch's model: inside stop_machine(),
 *                                  check every task, then switch them all;
 *   klp_try_complete_transition()  the per-task model: hold each task in
 *                                  turn, check its stack, switch it;
 *   klp_count_stacks()             the reference-counting model's first
 *                                  scan: count (and hook the return of)
 *                                  every frame of a function in transition.
 *
 * A stack is walked through its frame pointers (every function keeps one:
 * -fno-omit-frame-pointer).  The walk is reliable when the task stopped
 * right after a vmcall (asleep, or in a hypercall), where every function
 * on the stack has set up its frame, and the chain ends with a zero frame
 * pointer inside the stack.
 */
#include <linux/kernel.h>
#include <linux/export.h>
#include <linux/sched.h>
#include <linux/errno.h>
#include <linux/livepatch.h>
#include <linux/stop_machine.h>
#include <asm/hypercall.h>

/* How many times the comparison loop runs (a knob for the cost tests). */
#ifndef KLP_CHECK_PASSES
#define KLP_CHECK_PASSES	1
#endif

/*
 * The first stack entry the checks compare: 0, the task's own %rip.
 * KLP_CHECK_SKIP_IP (a deliberate bug, for the tests that show the
 * consistency checker catches it) starts at 1: only return addresses.
 */
#ifdef KLP_CHECK_SKIP_IP
#define KLP_FIRST_ENTRY		1
#else
#define KLP_FIRST_ENTRY		0
#endif

#define KLP_MAX_STACK		65	/* %rip and up to 64 return addresses */

struct klp_stack {
	int nr;
	unsigned long entries[KLP_MAX_STACK];	/* %rip, then return addresses */
	unsigned long slots[KLP_MAX_STACK];	/* where each return address is */
};

static bool klp_after_vmcall(unsigned long ip)
{
	const u8 *p = (const u8 *)(ip - 3);

	return p[0] == 0x0f && p[1] == 0x01 && p[2] == 0xc1;
}

/* Walk a stopped task's frame pointers; 0 if the walk is reliable. */
static noinline int klp_unwind(const struct task_info *ti, struct klp_stack *st)
{
	unsigned long bp = ti->bp, next;

	st->nr = 0;
	st->entries[st->nr] = ti->ip;
	st->slots[st->nr++] = 0;
	for (;;) {
		if (!bp)
			return klp_after_vmcall(ti->ip) ? 0 : -EINVAL;
		if ((bp & 7) || bp < ti->stack_lo || bp + 16 > ti->stack_hi ||
		    st->nr == KLP_MAX_STACK)
			return -EINVAL;
		next = *(unsigned long *)bp;
		st->slots[st->nr] = bp + 8;
		st->entries[st->nr++] = *(unsigned long *)(bp + 8);
		if (next && next <= bp)
			return -EINVAL;
		bp = next;
	}
}

/* The index of the first stack entry inside a range, or -1. */
static noinline int klp_check_stack_func(const struct klp_check *chk,
					 const struct klp_stack *st)
{
	int pass, i, found = -1;
	unsigned long j;

	for (pass = 0; pass < KLP_CHECK_PASSES; pass++) {
		found = -1;
		for (i = KLP_FIRST_ENTRY; i < st->nr && found < 0; i++)
			for (j = 0; j < chk->nr_ranges; j++)
				if (st->entries[i] >= chk->ranges[j].start &&
				    st->entries[i] < chk->ranges[j].end) {
					found = i;
					break;
				}
	}
	return found;
}

static void klp_note_busy(struct klp_check *chk, long pid, long reason, unsigned long addr)
{
	if (chk->busy_pid)
		return;
	chk->busy_pid = pid;
	chk->busy_reason = reason;
	chk->busy_addr = addr;
}

/*
 * Check one task that cannot move (held, or stopped by stop_machine).
 * Returns 0 if no function in transition is on its stack.
 */
static noinline int klp_check_stack(struct klp_check *chk, long pid,
				    const struct task_info *ti, struct klp_stack *st)
{
	int reliable, hit;

	if (ti->flags & (TI_USER | TI_NEW | TI_DEAD))
		return 0;
	reliable = klp_unwind(ti, st);
	if (chk->flags & KLP_CHECK_REPORT)
		hypercall4(HC_KLP_STACK_SEEN, pid, (unsigned long)st->entries, st->nr,
			   reliable == 0);
	if (reliable) {
		klp_note_busy(chk, pid, KLP_BUSY_UNRELIABLE, 0);
		return -EINVAL;
	}
	hit = klp_check_stack_func(chk, st);
	if (hit >= 0) {
		klp_note_busy(chk, pid, KLP_BUSY_FUNC, st->entries[hit]);
		return -EBUSY;
	}
	return 0;
}

static void klp_check_reset(struct klp_check *chk)
{
	chk->busy_pid = 0;
	chk->busy_addr = 0;
	chk->busy_reason = 0;
	chk->pause_ns = 0;
	chk->max_hold_ns = 0;
	chk->nr_switched = 0;
	chk->nr_counted = 0;
}

/* Run on CPU 0 while every CPU is stopped. */
static int klp_stop_fn(void *data)
{
	struct klp_check *chk = data;
	struct klp_stack st;
	struct task_info ti;
	unsigned long i;
	int ret = 0;

	for (i = 0; i < chk->nr_pids; i++) {
		if (hypercall2(HC_TASK_INFO, chk->pids[i], (unsigned long)&ti))
			continue;
		/* The other CPUs run their stoppers, this one runs us. */
		if (ti.flags & (TI_RUNNING | TI_CURRENT))
			continue;
		if (klp_check_stack(chk, chk->pids[i], &ti, &st))
			ret = -EBUSY;
	}
	if (!ret && hypercall1(HC_KLP_SWITCH, -1) == 0)
		chk->nr_switched = chk->nr_pids;
	return ret;
}

/* kpatch's model: check and switch every task with every CPU stopped. */
long klp_stop_machine_check(struct klp_check *chk)
{
	klp_check_reset(chk);
	return stop_machine_timed(klp_stop_fn, chk, &chk->pause_ns);
}
EXPORT_SYMBOL_GPL(klp_stop_machine_check);

/*
 * Linux's klp_try_switch_task(): hold the task (it cannot be scheduled
 * while its stack is checked), check, switch it, let it go.  A task
 * running on another CPU cannot be checked.
 */
static noinline int klp_try_switch_task(struct klp_check *chk, long pid,
					struct klp_stack *st)
{
	struct task_info ti;
	u64 start, held;
	long ret;

	start = ktime_get_ns();
	ret = hypercall2(HC_TASK_HOLD, pid, 1);
	if (ret == -ESRCH)
		return 0;
	if (ret == -EBUSY) {
		/* Running: switched only if it is in user space. */
		if (hypercall2(HC_TASK_INFO, pid, (unsigned long)&ti) == 0 &&
		    (ti.flags & TI_USER) && hypercall1(HC_KLP_SWITCH, pid) == 0)
			return 0;
		klp_note_busy(chk, pid, KLP_BUSY_RUNNING, 0);
		return -EBUSY;
	}
	ret = hypercall2(HC_TASK_INFO, pid, (unsigned long)&ti);
	if (ret == 0)
		ret = klp_check_stack(chk, pid, &ti, st);
	if (ret == 0)
		ret = hypercall1(HC_KLP_SWITCH, pid);
	held = ktime_get_ns() - start;
	hypercall2(HC_TASK_HOLD, pid, 0);
	if (held > chk->max_hold_ns)
		chk->max_hold_ns = held;
	return ret;
}

/* Try to switch every task listed; returns how many could not be. */
long klp_try_complete_transition(struct klp_check *chk)
{
	struct klp_stack st;
	unsigned long i;
	long left = 0;

	klp_check_reset(chk);
	for (i = 0; i < chk->nr_pids; i++) {
		if (klp_try_switch_task(chk, chk->pids[i], &st))
			left++;
		else
			chk->nr_switched++;
	}
	return left;
}
EXPORT_SYMBOL_GPL(klp_try_complete_transition);

/*
 * The reference-counting model's scan: every frame of a function in
 * transition on a held task's stack is counted, and its return hooked
 * (HC_KLP_REFCOUNT) while the task cannot run.  A task running on another
 * CPU is waited for (it stops at its next preemption point).  Returns the
 * number of tasks that could not be scanned.
 */
long klp_count_stacks(struct klp_check *chk)
{
	struct klp_stack st;
	struct task_info ti;
	unsigned long i, j;
	long left = 0, ret;
	int tries, k;
	u64 start, held;

	klp_check_reset(chk);
	for (i = 0; i < chk->nr_pids; i++) {
		long pid = chk->pids[i];

		for (tries = 0; (ret = hypercall2(HC_TASK_HOLD, pid, 1)) == -EBUSY; tries++) {
			if (hypercall2(HC_TASK_INFO, pid, (unsigned long)&ti) == 0 &&
			    (ti.flags & TI_USER))
				break;
			if (tries == 10000)
				break;
			cond_resched();
		}
		if (ret == -ESRCH)
			continue;
		if (ret) {
			if (!(ti.flags & TI_USER)) {
				klp_note_busy(chk, pid, KLP_BUSY_RUNNING, 0);
				left++;
			}
			continue;
		}
		start = ktime_get_ns();
		ret = hypercall2(HC_TASK_INFO, pid, (unsigned long)&ti);
		if (ret == 0 && !(ti.flags & (TI_USER | TI_NEW | TI_DEAD))) {
			if (klp_unwind(&ti, &st)) {
				klp_note_busy(chk, pid, KLP_BUSY_UNRELIABLE, 0);
				left++;
			} else {
				/*
				 * A frame in a range returns through the next
				 * slot.  Outermost first: the returns are
				 * recorded in the order they will be popped
				 * from the end.
				 */
				for (k = st.nr - 2; k >= KLP_FIRST_ENTRY; k--)
					for (j = 0; j < chk->nr_ranges; j++)
						if (st.entries[k] >= chk->ranges[j].start &&
						    st.entries[k] < chk->ranges[j].end) {
							chk->nr_counted += hypercall3(HC_KLP_REFCOUNT, pid,
								st.slots[k + 1], st.entries[k + 1]);
							break;
						}
			}
		}
		held = ktime_get_ns() - start;
		hypercall2(HC_TASK_HOLD, pid, 0);
		if (held > chk->max_hold_ns)
			chk->max_hold_ns = held;
	}
	return left;
}
EXPORT_SYMBOL_GPL(klp_count_stacks);
