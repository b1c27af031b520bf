package ftrace_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

func TestCountRedirectRestore(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 4})
	m, ft := k.M, k.Ftrace
	getpid := k.Symbols["sys_getpid"]
	site, err := ft.SiteOf(getpid)
	if err != nil {
		t.Fatal(err)
	}
	orig := make([]byte, 5)
	m.Mem.Peek(site, orig)
	if !slices.Equal(orig, machine.Nop5[:]) {
		t.Fatalf("sys_getpid's fentry site after boot: % x, want the NOP", orig)
	}

	// A counting op sees every call.
	calls := 0
	var parents []uint64
	counter := &ftrace.Ops{Name: "counter", Func: func(ip, parent uint64, r *ftrace.Regs) {
		calls++
		parents = append(parents, parent)
	}}
	if err := ft.Register(getpid, counter); err != nil {
		t.Fatal(err)
	}
	var pids []int64
	task := targettest.RunScript(t, k, "pids", func(u *machine.User) {
		for i := 0; i < 25; i++ {
			pids = append(pids, u.Syscall(workload.SysGetpid))
		}
	})
	if calls != 25 {
		t.Errorf("counter saw %d calls, want 25", calls)
	}
	for _, p := range parents {
		if s, _, _, _ := m.Syms.Lookup(p); s == nil || s.Name != "do_syscall" {
			t.Errorf("parent %s, want do_syscall", m.Syms.Format(p))
			break
		}
	}
	for _, p := range pids {
		if p != int64(task.PID) {
			t.Fatalf("getpid = %d, want %d", p, task.PID)
		}
	}

	// An IPMODIFY op sends the calls to sys_count instead; the counter
	// still sees them.
	redirect := &ftrace.Ops{Name: "redirect", Flags: ftrace.FlagIPModify, Func: func(ip, parent uint64, r *ftrace.Regs) {
		r.IP = k.Symbols["sys_count"]
	}}
	if err := ft.Register(getpid, redirect); err != nil {
		t.Fatal(err)
	}
	second := &ftrace.Ops{Name: "second", Flags: ftrace.FlagIPModify, Func: func(uint64, uint64, *ftrace.Regs) {}}
	if err := ft.Register(getpid, second); err == nil {
		t.Error("a second IPMODIFY op was accepted")
	}
	calls = 0
	var counts []int64
	targettest.RunScript(t, k, "counts", func(u *machine.User) {
		base := u.Syscall(workload.SysCount)
		for i := 0; i < 5; i++ {
			counts = append(counts, u.Syscall(workload.SysGetpid)-base)
		}
	})
	if !slices.Equal(counts, []int64{1, 2, 3, 4, 5}) || calls != 5 {
		t.Errorf("redirected getpid returned %v (counter %d), want sys_count's 1..5", counts, calls)
	}

	// Removing the ops restores the NOP bytes exactly, and getpid.
	if err := ft.Unregister(getpid, redirect); err != nil {
		t.Fatal(err)
	}
	if err := ft.Unregister(getpid, counter); err != nil {
		t.Fatal(err)
	}
	now := make([]byte, 5)
	m.Mem.Peek(site, now)
	if !slices.Equal(now, orig) {
		t.Errorf("site after removing the ops: % x, want % x", now, orig)
	}
	if len(ft.Hooked()) != 0 {
		t.Errorf("still hooked: %x", ft.Hooked())
	}
	var pid int64
	task = targettest.RunScript(t, k, "pid", func(u *machine.User) { pid = u.Syscall(workload.SysGetpid) })
	if pid != int64(task.PID) || calls != 5 {
		t.Errorf("after removal getpid = %d (want %d), counter %d", pid, task.PID, calls)
	}
}

// TestHookBusyFunction hooks a function every task calls all the time
// (schedule) while a mixed workload runs on 4 CPUs.
func TestHookBusyFunction(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 4, Seed: 2, OnBootDone: func(k *boot.Kernel) { workload.Start(k.M, "mixed") }})
	n := 0
	ops := &ftrace.Ops{Name: "sched", Func: func(uint64, uint64, *ftrace.Regs) { n++ }}
	if err := k.Ftrace.Register(k.Symbols["schedule"], ops); err != nil {
		t.Fatal(err)
	}
	if err := k.M.RunFor(100_000_000); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("schedule called %d times in 100 ms", n)
	}
	if err := k.Ftrace.Unregister(k.Symbols["schedule"], ops); err != nil {
		t.Fatal(err)
	}
	if err := k.M.RunFor(100_000_000); err != nil {
		t.Fatal(err)
	}
}

// TestFtraceEnabled: kernel.ftrace_enabled=0 turns hooked sites back into
// NOPs (a tracer sees nothing) and refuses a permanent ops with ErrBusy;
// 1 brings the hooks back; 0 is refused while a permanent ops is there.
func TestFtraceEnabled(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 1, Seed: 4})
	ft := k.Ftrace
	getpid := k.Symbols["sys_getpid"]
	calls := 0
	tracer := &ftrace.Ops{Name: "tracer", Func: func(uint64, uint64, *ftrace.Regs) { calls++ }}
	perm := &ftrace.Ops{Name: "perm", Flags: ftrace.FlagIPModify | ftrace.FlagPermanent, Func: func(uint64, uint64, *ftrace.Regs) {}}
	call := func() {
		targettest.RunScript(t, k, "pid", func(u *machine.User) { u.Syscall(workload.SysGetpid) })
	}
	if err := ft.Register(getpid, tracer); err != nil {
		t.Fatal(err)
	}
	if err := ft.SetEnabled(false); err != nil || ft.Enabled() {
		t.Fatalf("disable: %v", err)
	}
	call()
	if calls != 0 {
		t.Errorf("tracer saw %d calls with ftrace disabled", calls)
	}
	if err := ft.Register(getpid, perm); !errors.Is(err, ftrace.ErrBusy) {
		t.Errorf("permanent ops registered with ftrace disabled: %v", err)
	}
	if err := ft.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	call()
	if calls != 1 {
		t.Errorf("tracer saw %d calls after enabling, want 1", calls)
	}
	if err := ft.Register(getpid, perm); err != nil {
		t.Fatal(err)
	}
	if err := ft.SetEnabled(false); !errors.Is(err, ftrace.ErrBusy) || !ft.Enabled() {
		t.Errorf("ftrace disabled under a permanent ops: %v", err)
	}
	ft.Unregister(getpid, perm)
	ft.Unregister(getpid, tracer)
	if len(ft.Hooked()) != 0 {
		t.Errorf("still hooked: %x", ft.Hooked())
	}
}
