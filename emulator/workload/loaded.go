package workload

import (
	"fmt"
	"math/rand"

	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// LoadedConfig parameterises the loaded workload.
type LoadedConfig struct {
	// Seed draws the length of every call and pause; 0 means
	// DefaultLoadedSeed. The same seed gives the same calls.
	Seed int64
	// Duration is the virtual time (ns) during which the processes
	// start new calls, counted from when each starts; 0 means
	// DefaultLoadedDuration. Then they finish the call in progress and
	// exit (the waker last, once no waiter is left), so the machine goes
	// idle and its time can jump.
	Duration uint64
	// SpinMin and SpinMax bound the steps of kernel work each spinN
	// process does per call holding its spinlock (a non-preemptible
	// section); 0 means DefaultSpinMin and DefaultSpinMax.
	SpinMin, SpinMax int
}

// Defaults of LoadedConfig.
const (
	DefaultLoadedSeed     = 1
	DefaultLoadedDuration = 20 * Millisecond
	DefaultSpinMin        = 1000
	DefaultSpinMax        = 4000
)

// Loaded returns the processes of the loaded workload for a machine of
// cpus CPUs: per CPU, a fixed mix of tasks that keep the kernel busy,
//
//   - kworkN: long system calls of kernel work (sys_kwork, 5000 to
//     20000 steps, cond_resched() every 500 steps);
//   - spinN: kernel work holding a spinlock (sys_spin_work, cfg.SpinMin
//     to cfg.SpinMax steps, by default 1000 to 4000), CPUs 2i and 2i+1
//     sharing spinlock i;
//   - mutexNa, mutexNb: two processes taking mutex N (mod 16) and
//     sleeping 100 to 500 µs holding it (sys_mutex_sleep), so one is
//     often blocked on the mutex the other holds;
//   - napN: sleeps of 0.5 to 3 ms in the kernel (sys_nanosleep);
//   - waitN: sleeps on the demo wait queue (sys_wait_event);
//
// plus one waker that wakes the wait queue every millisecond until
// every waiter has exited. Between two calls each process computes 10
// to 50 µs in user space. Every process starts new calls only during
// cfg.Duration and then exits; the lengths come from a random source
// seeded with cfg.Seed, the process's CPU and kind, so they do not
// depend on the scheduling.
func Loaded(cpus int, cfg LoadedConfig) []Process {
	if cfg.Seed == 0 {
		cfg.Seed = DefaultLoadedSeed
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultLoadedDuration
	}
	if cfg.SpinMin == 0 {
		cfg.SpinMin = DefaultSpinMin
	}
	if cfg.SpinMax == 0 {
		cfg.SpinMax = DefaultSpinMax
	}
	waiters := 0
	var ps []Process
	for c := 0; c < cpus; c++ {
		rng := func(kind int64) *rand.Rand {
			return rand.New(rand.NewSource(cfg.Seed*1_000_003 + int64(c)*16 + kind))
		}
		mutex := uint64(c % 16)
		ps = append(ps,
			Process{fmt.Sprintf("kwork%d", c), loadLoop(cfg.Duration, rng(0), func(u *machine.User, r *rand.Rand) {
				u.Syscall(SysKwork, uint64(5000+r.Intn(15001)), 500)
			})},
			Process{fmt.Sprintf("spin%d", c), loadLoop(cfg.Duration, rng(1), func(u *machine.User, r *rand.Rand) {
				u.Syscall(SysSpinWork, uint64(c/2%16), uint64(cfg.SpinMin+r.Intn(cfg.SpinMax-cfg.SpinMin+1)))
			})},
			Process{fmt.Sprintf("mutex%da", c), mutexSleeper(cfg.Duration, rng(2), mutex)},
			Process{fmt.Sprintf("mutex%db", c), mutexSleeper(cfg.Duration, rng(3), mutex)},
			Process{fmt.Sprintf("nap%d", c), loadLoop(cfg.Duration, rng(4), func(u *machine.User, r *rand.Rand) {
				u.Syscall(SysNanosleep, uint64(Millisecond/2+r.Intn(5*Millisecond/2+1)))
			})},
		)
		waiters++
		ps = append(ps, Process{fmt.Sprintf("wait%d", c), func(u *machine.User) {
			defer func() { waiters-- }()
			loadLoop(cfg.Duration, rng(5), func(u *machine.User, r *rand.Rand) {
				u.Syscall(SysWaitEvent)
			})(u)
		}})
	}
	ps = append(ps, Process{"waker", func(u *machine.User) {
		for waiters > 0 {
			u.Syscall(SysNanosleep, Millisecond)
			u.Syscall(SysWakeAll)
		}
	}})
	return ps
}

// loadLoop is a script that makes one call with call, then computes 10
// to 50 µs, until duration has passed since it started.
func loadLoop(duration uint64, r *rand.Rand, call func(*machine.User, *rand.Rand)) machine.Script {
	return func(u *machine.User) {
		end := u.Now() + duration
		for u.Now() < end {
			call(u, r)
			u.Compute(uint64(10_000 + r.Intn(40_001)))
		}
	}
}

func mutexSleeper(duration uint64, r *rand.Rand, mutex uint64) machine.Script {
	return loadLoop(duration, r, func(u *machine.User, r *rand.Rand) {
		u.Syscall(SysMutexSleep, mutex, uint64(100_000+r.Intn(400_001)))
	})
}

// Spawn starts the processes on m now and returns their tasks (the
// machine must have booted: see Start otherwise).
func Spawn(m *machine.Machine, ps []Process) ([]*machine.Task, error) {
	var ts []*machine.Task
	for _, p := range ps {
		t, err := m.Spawn(p.Name, p.Script)
		if err != nil {
			return ts, fmt.Errorf("workload: spawn %s: %w", p.Name, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Exited reports whether every task has exited.
func Exited(ts []*machine.Task) bool {
	for _, t := range ts {
		if t.State != machine.Dead {
			return false
		}
	}
	return true
}
