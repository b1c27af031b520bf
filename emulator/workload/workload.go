package workload

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// System call numbers of the target kernel (asm/unistd.h, through
// package abi).
const (
	SysVersion        = abi.NR_version
	SysCmdline        = abi.NR_cmdline
	SysMeminfo        = abi.NR_meminfo
	SysVmstat         = abi.NR_vmstat
	SysStat           = abi.NR_stat
	SysCpuinfo        = abi.NR_cpuinfo
	SysProcRead       = abi.NR_proc_read
	SysReadUser       = abi.NR_read_user
	SysIncrUser       = abi.NR_incr_user
	SysVerbose        = abi.NR_verbose
	SysGetpid         = abi.NR_getpid
	SysNanosleep      = abi.NR_nanosleep
	SysCount          = abi.NR_count
	SysWaitEvent      = abi.NR_wait_event
	SysWakeAll        = abi.NR_wake_all
	SysQueueWork      = abi.NR_queue_work
	SysRestartSyscall = abi.NR_restart_syscall
	SysKwork          = abi.NR_kwork
	SysSpinWork       = abi.NR_spin_work
	SysMutexSleep     = abi.NR_mutex_sleep
)

// Millisecond is a millisecond of virtual time in nanoseconds.
const Millisecond = 1_000_000

// ReadText makes a text system call (version, meminfo...) into a fresh
// buffer and returns the text, or the error code.
func ReadText(u *machine.User, nr uint64) (string, int64) {
	defer u.Release(u.Mark())
	buf := u.Alloc(2048)
	n := u.Syscall(nr, buf, 2048)
	if n < 0 {
		return "", n
	}
	return string(u.Read(buf, uint64(n))), n
}

// ProcRead reads a proc entry by name (sys_proc_read).
func ProcRead(u *machine.User, name string) (string, int64) {
	defer u.Release(u.Mark())
	nm := u.CString(name)
	buf := u.Alloc(2048)
	n := u.Syscall(SysProcRead, nm, buf, 2048)
	if n < 0 {
		return "", n
	}
	return string(u.Read(buf, uint64(n))), n
}

// Process is one process of a workload.
type Process struct {
	Name   string
	Script machine.Script
}

// Workload is a named set of processes.
type Workload struct {
	Name        string
	Description string
	Processes   func(cpus int) []Process
}

var workloads = map[string]Workload{}

func register(w Workload) { workloads[w.Name] = w }

// Names lists the workloads.
func Names() []string {
	var out []string
	for n := range workloads {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the named workload.
func Get(name string) (Workload, error) {
	w, ok := workloads[name]
	if !ok {
		return Workload{}, fmt.Errorf("no workload %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return w, nil
}

// Start spawns the processes of the named workload on m (at once if the
// kernel has booted, else when it reports HC_BOOT_DONE).
func Start(m *machine.Machine, name string) error {
	w, err := Get(name)
	if err != nil {
		return err
	}
	var serr error
	m.OnBootDone(func() {
		for _, p := range w.Processes(m.Config().CPUs) {
			if _, err := m.Spawn(p.Name, p.Script); err != nil && serr == nil {
				serr = err
			}
		}
	})
	return serr
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func init() {
	register(Workload{Name: "idle", Description: "no user processes",
		Processes: func(int) []Process { return nil }})
	register(Workload{Name: "busy", Description: "one computing process per CPU",
		Processes: func(cpus int) []Process {
			var ps []Process
			for i := 0; i < cpus; i++ {
				ps = append(ps, Process{fmt.Sprintf("busy%d", i), Busy(200_000)})
			}
			return ps
		}})
	register(Workload{Name: "sleepers", Description: "processes sleeping 50 ms at a time",
		Processes: func(int) []Process {
			return []Process{{"sleeper0", Sleeper(50 * Millisecond)}, {"sleeper1", Sleeper(80 * Millisecond)}}
		}})
	register(Workload{Name: "loaded", Description: "per CPU: long kernel work, spinlock and mutex holders and waiters, sleepers, wait-queue waiters; 20 ms",
		Processes: func(cpus int) []Process { return Loaded(cpus, LoadedConfig{}) }})
	register(Workload{Name: "mixed", Description: "eight processes of every kind, with the kernel threads",
		Processes: func(int) []Process {
			return []Process{
				{"version", Reader(SysVersion, 40*Millisecond)},
				{"meminfo", Reader(SysMeminfo, 70*Millisecond)},
				{"sleeper", Sleeper(30 * Millisecond)},
				{"waiter", Waiter()},
				{"waker", Waker(25 * Millisecond)},
				{"queuer", Queuer(60 * Millisecond)},
				{"busy", Busy(300_000)},
				{"counter", Counter(45 * Millisecond)},
			}
		}})
}

// Busy computes for chunk ns in user space between getpid calls, forever.
func Busy(chunk uint64) machine.Script {
	return func(u *machine.User) {
		for {
			u.Compute(chunk)
			u.Syscall(SysGetpid)
		}
	}
}

// Sleeper sleeps for period ns in the kernel, forever, and says so.
func Sleeper(period uint64) machine.Script {
	return func(u *machine.User) {
		for i := 1; ; i++ {
			u.Syscall(SysNanosleep, period)
			if i%4 == 0 {
				u.Printf("slept %d times", i)
			}
		}
	}
}

// Reader reads a text system call every period ns and prints its first
// line.
func Reader(nr uint64, period uint64) machine.Script {
	return func(u *machine.User) {
		for {
			text, n := ReadText(u, nr)
			if n < 0 {
				u.Printf("error %d", n)
			} else {
				u.Printf("%s", firstLine(text))
			}
			u.Syscall(SysNanosleep, period)
		}
	}
}

// Waiter sleeps on the demo wait queue, forever.
func Waiter() machine.Script {
	return func(u *machine.User) {
		for i := 1; ; i++ {
			u.Syscall(SysWaitEvent)
			u.Printf("woken %d", i)
		}
	}
}

// Waker wakes the demo wait queue every period ns.
func Waker(period uint64) machine.Script {
	return func(u *machine.User) {
		for {
			u.Syscall(SysNanosleep, period)
			u.Syscall(SysWakeAll)
		}
	}
}

// Queuer queues the stats work item every period ns.
func Queuer(period uint64) machine.Script {
	return func(u *machine.User) {
		for {
			u.Syscall(SysNanosleep, period)
			u.Syscall(SysQueueWork)
		}
	}
}

// Counter calls sys_count every period ns and prints the count.
func Counter(period uint64) machine.Script {
	return func(u *machine.User) {
		for {
			n := u.Syscall(SysCount)
			u.Printf("count %d", n)
			u.Syscall(SysNanosleep, period)
		}
	}
}
