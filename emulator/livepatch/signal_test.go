package livepatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// sigCall is a system call of TestSignalledTransition's processes.
type sigCall struct {
	ret        int64
	start, end uint64
}

// A per-task transition blocked by user tasks asleep in a patched system
// call (nanosleep, a wait queue, a mutex waiter and the mutex's holder)
// completes once the fake signal has moved them through user space: each
// interrupted call restarts and returns what it would have returned, and
// the next call of each task runs the new function.
func TestSignalledTransition(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	m := s.k.M
	// The fake signal comes after SignalsTimeout failed retries; the
	// sleeps outlast it.
	signalAt := livepatch.SignalsTimeout * s.c.RetryPeriod
	long := 4 * signalAt
	calls := map[string][]sigCall{}
	var tasks []*machine.Task
	proc := func(name string, script func(u *machine.User, do func(nr uint64, args ...uint64) int64)) {
		task, err := m.Spawn(name, func(u *machine.User) {
			script(u, func(nr uint64, args ...uint64) int64 {
				c := sigCall{start: u.Now()}
				c.ret = u.Syscall(nr, args...)
				c.end = u.Now()
				calls[name] = append(calls[name], c)
				return c.ret
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	proc("napper", func(u *machine.User, do func(uint64, ...uint64) int64) {
		do(workload.SysNanosleep, long)
		do(workload.SysNanosleep, 1000)
	})
	proc("waiter", func(u *machine.User, do func(uint64, ...uint64) int64) {
		do(workload.SysWaitEvent)
		do(workload.SysWaitEvent)
	})
	proc("holder", func(u *machine.User, do func(uint64, ...uint64) int64) {
		do(workload.SysMutexSleep, 2, long)
		do(workload.SysMutexSleep, 2, 1000)
	})
	proc("contender", func(u *machine.User, do func(uint64, ...uint64) int64) {
		u.Compute(100_000)
		do(workload.SysMutexSleep, 2, 1_000_000)
	})
	// The waker wakes the waiter long after the transition.
	waker, err := m.Spawn("waker", func(u *machine.User) {
		u.Syscall(workload.SysNanosleep, 2*long)
		u.Syscall(workload.SysWakeAll)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RunFor(1_000_000); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.State != machine.Sleeping || task.InUser() {
			t.Fatalf("%s is not asleep in the kernel:\n%s", task, m.FormatStack(task))
		}
	}

	s.step("insmod lp_signal.ko", func() error {
		_, err := s.k.LoadModule(s.k.Build.Modules["lp_signal"])
		return err
	})
	if s.c.InTransition() == nil {
		t.Fatal("the transition was not blocked by the sleepers")
	}
	if err := m.RunFor(signalAt / 2); err != nil {
		t.Fatal(err)
	}
	blocker, _ := s.c.Blocker()
	s.log.WriteString("blocked by: " + blocker + "\n")
	s.step("wait for the transition", func() error {
		ok, err := s.c.WaitTransition(2 * signalAt)
		if err == nil && !ok {
			err = fmt.Errorf("still in transition, blocked by %s", blocker)
		}
		return err
	})
	r := lastReport(s.c, "patching")
	if !r.Completed || !r.Signalled || r.Forced {
		t.Errorf("patching: %+v", r)
	}
	done := func() bool {
		for _, task := range append(tasks, waker) {
			if task.State != machine.Dead {
				return false
			}
		}
		return true
	}
	if err := m.RunUntil(done, m.Now()+3*long); err != nil {
		t.Fatal(err)
	}
	if !done() {
		t.Fatalf("the processes did not finish:\n%s", m.FormatTasks())
	}
	s.flush()

	want := map[string][]int64{
		"napper":    {0, 0},
		"waiter":    {0, -11}, // the new sys_wait_event does not wait: -EAGAIN
		"holder":    {0, 0},
		"contender": {0},
	}
	for name, rets := range want {
		cs := calls[name]
		if len(cs) != len(rets) {
			t.Errorf("%s: %d calls, want %d", name, len(cs), len(rets))
			continue
		}
		for i, w := range rets {
			if cs[i].ret != w {
				t.Errorf("%s: call %d returned %d, want %d", name, i, cs[i].ret, w)
			}
		}
	}
	// The restarted sleeps kept their deadlines.
	for _, name := range []string{"napper", "holder"} {
		if c := calls[name][0]; c.end-c.start < long || c.end-c.start > long+1_000_000 {
			t.Errorf("%s: the interrupted sleep of %d ns took %d", name, long, c.end-c.start)
		}
	}
	// Every task's next call ran the new function; the interrupted ones
	// were restarted in the old code.
	log := s.log.String()
	for i, task := range tasks[:3] {
		fn := []string{"sys_nanosleep", "sys_wait_event", "sys_mutex_sleep"}[i]
		if n := strings.Count(log, fmt.Sprintf("lp_signal: %s pid %d\n", fn, task.PID)); n != 1 {
			t.Errorf("%s: the new %s ran %d times, want 1:\n%s", task, fn, n, log)
		}
		if task.Restarts == 0 {
			t.Errorf("%s: no call was restarted", task)
		}
	}
	if !strings.Contains(log, "signaling remaining tasks") {
		t.Errorf("no signal in the log:\n%s", log)
	}
}
