// Package workload holds the user space of the target: the system call
// numbers of the bundled kernel (asm/unistd.h) and named workloads, each
// a set of user processes written as Go scripts of system calls.
//
// Workloads:
//
//   - idle: no process; the CPUs sit in their idle loops.
//   - busy: one process per CPU computing in user space and making a
//     cheap system call now and then.
//   - sleepers: processes that sleep in the kernel for long stretches.
//   - loaded: per CPU, processes that load the kernel: long system
//     calls with cond_resched() points, work under a spinlock, two
//     processes sharing a mutex they sleep with, sleepers and wait-queue
//     waiters (see Loaded); bounded in time, deterministic for a seed.
//   - mixed: eight user processes (readers of the /proc-style files, a
//     sleeper, a waiter and a waker on the demo wait queue, a process
//     queueing work for the kworker thread, a busy process and one that
//     toggles the verbose static key) next to the kernel threads.
package workload
