// Package machine is the emulated computer the bundled kernel runs on:
// memory, N virtual CPUs, tasks, a deterministic scheduler, virtual time,
// the hypercalls of emulator/kernel/arch/x86/include/asm/hypercall.h, the
// special tables the CPU's exceptions are resolved through (bug table,
// exception table, jump table), user processes written as Go scripts of
// system calls, and the two stack unwinders.
//
// # Scheduling and time
//
// The machine runs in rounds. In a round every online CPU executes
// Config.Quantum instructions of its current task(s), one CPU after the
// other in an order drawn from the seeded random source; virtual time
// then advances by Quantum nanoseconds (one instruction is one
// nanosecond). Within a round each CPU has its own clock (the round's
// start plus the instructions it has run); a task woken by code on
// another CPU never starts before the waker's clock.
//
// Preemption is voluntary, as in Debian's kernels: a task in user space
// runs for a time slice of Quantum/2 plus a random number of instructions
// below Quantum and may be preempted anywhere; kernel code gives up its
// CPU only at a preemption point (a sleep, cond_resched() — HC_YIELD with
// a non-zero argument — or the return to user space), and only if its
// slice is used up and another task waits, or if its CPU's stopper
// thread (HC_STOPPER_CREATE, stop_machine's) has been woken. Every task
// that is not running in the kernel is therefore stopped right after a
// vmcall, where a frame-pointer walk of its stack is reliable. The run
// queue is FIFO and shared by all CPUs; a task held with HC_TASK_HOLD is
// skipped. When every CPU is idle the machine jumps straight to the next
// timer. Everything is a function of the seed: the same seed gives the
// same console transcript byte for byte.
//
// # Tasks
//
// A task is a register context (cpu.Context, including its shadow call
// stack) with its own task_struct and kernel stack in kernel memory. Idle
// tasks belong to one CPU and run only when the run queue is empty; the
// others are kernel threads (created by HC_KTHREAD_CREATE) and user
// processes (Spawn), which run on any CPU.
//
// # User space
//
// A user process is a Go function that issues system calls through a
// *User. Between two calls the process is in user space: its kernel stack
// is empty. A system call enters the kernel at entry_SYSCALL_64 with the
// number and three arguments and comes back with HC_SYSCALL_RETURN, which
// hands back the saved user registers (struct pt_regs): the result, or a
// request to issue the call again.
//
// # Signals
//
// SignalFake delivers Linux's fake signal (TIF_NOTIFY_SIGNAL in the
// task's thread flags, and a wake-up if it sleeps in TASK_INTERRUPTIBLE).
// The kernel's interruptible sleeps end, undo what they did and return
// -ERESTARTSYS or -ERESTART_RESTARTBLOCK; its system-call exit clears the
// flag and asks for the restart, so the process passes through user
// space and its call completes as if it had not been interrupted
// (Task.Restarts counts these restarts).
package machine
