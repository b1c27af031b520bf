package machine_test

import (
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

const ms = workload.Millisecond

// call is one system call a test script made: its result and when it
// started and returned (virtual time).
type call struct {
	ret        int64
	start, end uint64
	done       bool
}

func (c *call) took() uint64 { return c.end - c.start }

// oneCall is a script that makes one system call and records it in c.
func oneCall(c *call, nr uint64, args ...uint64) machine.Script {
	return func(u *machine.User) {
		c.start = u.Now()
		c.ret = u.Syscall(nr, args...)
		c.end = u.Now()
		c.done = true
	}
}

func spawn(t *testing.T, m *machine.Machine, name string, s machine.Script) *machine.Task {
	t.Helper()
	task, err := m.Spawn(name, s)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func runFor(t *testing.T, m *machine.Machine, ns uint64) {
	t.Helper()
	if err := m.RunFor(ns); err != nil {
		t.Fatal(err)
	}
}

// runUntilDone runs until every call is done, at most limit ns.
func runUntilDone(t *testing.T, m *machine.Machine, limit uint64, calls ...*call) {
	t.Helper()
	done := func() bool {
		for _, c := range calls {
			if !c.done {
				return false
			}
		}
		return true
	}
	if err := m.RunUntil(done, m.Now()+limit); err != nil {
		t.Fatal(err)
	}
	if !done() {
		t.Fatalf("calls not done after %d ns:\n%s", limit, m.FormatTasks())
	}
}

// signal sends task the fake signal and checks that it woke it.
func signal(t *testing.T, m *machine.Machine, task *machine.Task) {
	t.Helper()
	woken, err := m.SignalFake(task)
	if err != nil {
		t.Fatal(err)
	}
	if !woken {
		t.Fatalf("%s was not woken by the fake signal:\n%s", task, m.FormatStack(task))
	}
}

// asleepIn checks that task sleeps in the kernel with fn on its stack.
func asleepIn(t *testing.T, m *machine.Machine, task *machine.Task, fns ...string) {
	t.Helper()
	st := m.FormatStack(task)
	if task.State != machine.Sleeping || task.InUser() {
		t.Fatalf("%s: state %s, in user %v, want asleep in the kernel:\n%s", task, task.State, task.InUser(), st)
	}
	for _, fn := range fns {
		if !strings.Contains(st, "  "+fn+"+") {
			t.Errorf("%s: %s not on the stack:\n%s", task, fn, st)
		}
	}
}

// listLen counts the entries of the kernel list whose head is at addr.
func listLen(t *testing.T, m *machine.Machine, head uint64) int {
	t.Helper()
	n := 0
	for p := head; ; n++ {
		next, err := m.Mem.Read64(p)
		if err != nil {
			t.Fatal(err)
		}
		if next == head {
			return n
		}
		if n > 100 {
			t.Fatalf("list at %#x: no end", head)
		}
		p = next
	}
}

// restarted checks that each task's calls were restarted want times and
// that no signal is left pending.
func restarted(t *testing.T, m *machine.Machine, want int, tasks ...*machine.Task) {
	t.Helper()
	for _, task := range tasks {
		if task.Restarts != want {
			t.Errorf("%s: %d restarts, want %d", task, task.Restarts, want)
		}
	}
	noPendingSignal(t, m, tasks...)
}

func noPendingSignal(t *testing.T, m *machine.Machine, tasks ...*machine.Task) {
	t.Helper()
	for _, task := range tasks {
		if f := m.ThreadFlags(task); f&(1<<abi.TIF_NOTIFY_SIGNAL) != 0 {
			t.Errorf("%s: thread flags %#x: TIF_NOTIFY_SIGNAL still set", task, f)
		}
	}
}

// A nanosleep interrupted by the fake signal restarts through
// sys_restart_syscall with the time left: it returns 0 at the same
// deadline as an uninterrupted one.
func TestFakeSignalNanosleep(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 3})
	m := k.M
	var sig, ctl call
	napper := spawn(t, m, "napper", oneCall(&sig, workload.SysNanosleep, 5*ms))
	control := spawn(t, m, "control", oneCall(&ctl, workload.SysNanosleep, 5*ms))
	runFor(t, m, 1*ms)
	asleepIn(t, m, napper, "sys_nanosleep", "nanosleep_until")
	signal(t, m, napper)
	runFor(t, m, 200_000)
	asleepIn(t, m, napper, "sys_restart_syscall", "nanosleep_until")
	runUntilDone(t, m, 20*ms, &sig, &ctl)
	if sig.ret != 0 || ctl.ret != 0 {
		t.Errorf("nanosleep returned %d (signalled) and %d, want 0", sig.ret, ctl.ret)
	}
	// Restarted from scratch it would sleep 6 ms.
	if sig.took() < 5*ms || sig.took() > ctl.took()+100_000 {
		t.Errorf("signalled nanosleep took %d ns, the other %d", sig.took(), ctl.took())
	}
	restarted(t, m, 1, napper)
	restarted(t, m, 0, control)
	// The kernel counted no failed call: a restart is not a failure.
	var stat string
	spawn(t, m, "stat", func(u *machine.User) { stat, _ = workload.ReadText(u, workload.SysStat) })
	runFor(t, m, 1*ms)
	if !strings.Contains(stat, "syscalls") || strings.Contains(stat, "errors") {
		t.Errorf("sys_stat:\n%s", stat)
	}
}

// A task asleep on a wait queue leaves it when signalled, restarts, and
// is woken by the wake-up it was waiting for; no entry is left behind.
func TestFakeSignalWaitQueue(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 4})
	m := k.M
	wq := k.Symbols["demo_wq"]
	if wq == 0 {
		t.Fatal("no demo_wq in vmlinux")
	}
	head := wq + 8 // struct wait_queue_head: spinlock_t, then the list
	var sig, ctl, wake1, wake2 call
	w1 := spawn(t, m, "waiter1", oneCall(&sig, workload.SysWaitEvent))
	w2 := spawn(t, m, "waiter2", oneCall(&ctl, workload.SysWaitEvent))
	runFor(t, m, 1*ms)
	asleepIn(t, m, w1, "sys_wait_event")
	if n := listLen(t, m, head); n != 2 {
		t.Fatalf("demo_wq has %d entries, want 2", n)
	}
	signal(t, m, w1)
	runFor(t, m, 500_000)
	asleepIn(t, m, w1, "sys_restart_syscall")
	if n := listLen(t, m, head); n != 2 {
		t.Errorf("after the restart demo_wq has %d entries, want 2", n)
	}
	if sig.done {
		t.Fatalf("the signalled wait returned %d to user space", sig.ret)
	}
	spawn(t, m, "waker", func(u *machine.User) {
		wake1.ret = u.Syscall(workload.SysWakeAll)
		wake1.done = true
		u.Syscall(workload.SysNanosleep, 1*ms)
		wake2.ret = u.Syscall(workload.SysWakeAll)
		wake2.done = true
	})
	runUntilDone(t, m, 10*ms, &sig, &ctl, &wake1, &wake2)
	if sig.ret != 0 || ctl.ret != 0 {
		t.Errorf("wait_event returned %d (signalled) and %d, want 0", sig.ret, ctl.ret)
	}
	if wake1.ret != 2 || wake2.ret != 0 {
		t.Errorf("wake_all woke %d then %d, want 2 then 0", wake1.ret, wake2.ret)
	}
	if n := listLen(t, m, head); n != 0 {
		t.Errorf("demo_wq has %d entries left", n)
	}
	restarted(t, m, 1, w1)
	restarted(t, m, 0, w2)
}

// A task blocked on a mutex leaves the mutex's queue when signalled and
// blocks again after the restart; the holder, signalled while sleeping
// with the mutex, drops it, restarts, takes it again and sleeps to its
// deadline. Both calls return 0; the mutex ends free with no waiter.
func TestFakeSignalMutex(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 5})
	m := k.M
	const idx = 3
	lock := k.Symbols["load_mutex"] + idx*32 // struct mutex: spinlock_t, owner, wait_list
	if lock == idx*32 {
		t.Fatal("no load_mutex in vmlinux")
	}
	var held, blocked call
	holder := spawn(t, m, "holder", oneCall(&held, workload.SysMutexSleep, idx, 5*ms))
	runFor(t, m, 100_000)
	contender := spawn(t, m, "contender", oneCall(&blocked, workload.SysMutexSleep, idx, 1*ms))
	runFor(t, m, 1*ms)
	asleepIn(t, m, holder, "sys_mutex_sleep", "nanosleep_until")
	asleepIn(t, m, contender, "sys_mutex_sleep", "__mutex_lock")
	owner := func() uint64 {
		o, err := m.Mem.Read64(lock + 8)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if owner() != holder.Struct || listLen(t, m, lock+16) != 1 {
		t.Fatalf("mutex owner %#x (holder %#x), %d waiters", owner(), holder.Struct, listLen(t, m, lock+16))
	}

	signal(t, m, contender)
	runFor(t, m, 500_000)
	asleepIn(t, m, contender, "sys_mutex_sleep", "__mutex_lock")
	if contender.Restarts != 1 || holder.Restarts != 0 || blocked.done {
		t.Fatalf("restarts: contender %d, holder %d; contender done %v", contender.Restarts, holder.Restarts, blocked.done)
	}
	if owner() != holder.Struct || listLen(t, m, lock+16) != 1 {
		t.Errorf("after the restart: owner %#x, %d waiters, want the holder and 1", owner(), listLen(t, m, lock+16))
	}

	signal(t, m, holder)
	runUntilDone(t, m, 20*ms, &held, &blocked)
	if held.ret != 0 || blocked.ret != 0 {
		t.Errorf("mutex_sleep returned %d (holder) and %d, want 0", held.ret, blocked.ret)
	}
	if held.took() < 5*ms || held.took() > 5*ms+200_000 {
		t.Errorf("the holder's call took %d ns, want its 5 ms", held.took())
	}
	if owner() != 0 || listLen(t, m, lock+16) != 0 {
		t.Errorf("at the end: owner %#x, %d waiters", owner(), listLen(t, m, lock+16))
	}
	restarted(t, m, 1, holder, contender)
}

// The signal does nothing to a process in user space or a kernel thread.
func TestFakeSignalNotInKernel(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 1, Seed: 6})
	m := k.M
	busy := spawn(t, m, "busy", func(u *machine.User) {
		for {
			u.Compute(1 * ms)
		}
	})
	runFor(t, m, 100_000)
	for _, task := range []*machine.Task{busy, m.Task(2)} {
		woken, err := m.SignalFake(task)
		if err != nil || woken {
			t.Errorf("%s: woken %v, %v", task, woken, err)
		}
		noPendingSignal(t, m, task)
	}
}
