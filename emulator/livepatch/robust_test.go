package livepatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestInvalidPatches: an unresolvable symbol, an ambiguous sympos, a
// sympos past the copies, a function without an fentry site and a second
// IPMODIFY user of a function are refused with a clear message, and
// nothing is left behind (no module, no hooked site, no patch).
func TestInvalidPatches(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	for _, mod := range []string{"lp_bad_nosym", "lp_bad_ambig", "lp_bad_sympos", "lp_bad_fentry"} {
		if err := s.insmod(mod); err == nil {
			t.Errorf("%s loaded", mod)
		}
		if s.k.Loader.Module(mod) != nil || len(s.k.Ftrace.Hooked()) != 0 || len(s.c.Patches()) != 0 {
			t.Errorf("%s: left something behind", mod)
		}
	}
	// A tracer that modifies the IP of cmdline_proc_show holds it.
	fn := s.k.Symbols["cmdline_proc_show"]
	ops := &ftrace.Ops{Name: "other-ipmodify", Flags: ftrace.FlagIPModify, Func: func(uint64, uint64, *ftrace.Regs) {}}
	if err := s.k.Ftrace.Register(fn, ops); err != nil {
		t.Fatal(err)
	}
	if err := s.insmod("test_klp_livepatch"); err == nil {
		t.Error("patch loaded over another IPMODIFY user")
	}
	s.k.Ftrace.Unregister(fn, ops)
	if len(s.k.Ftrace.Hooked()) != 0 || s.c.InTransition() != nil {
		t.Error("refused patch left a hook or a transition")
	}
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); got != "console=hvc0\n" {
		t.Errorf("cmdline %q", got)
	}
	testutil.Golden(t, "testdata/invalid.golden", s.log.String())
}

// TestOops: a patched function that faults gives an oops whose backtrace
// names the patch module; the other tasks keep running.
func TestOops(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2, OnBootDone: func(k *boot.Kernel) { workload.Start(k.M, "busy") }})
	s.insmod("lp_oops")
	s.log.WriteString("% cat /proc/cmdline\n")
	var done bool
	victim, _ := s.k.M.Spawn("cat", func(u *machine.User) {
		workload.ReadText(u, workload.SysCmdline)
		done = true
	})
	s.k.M.RunFor(20 * workload.Millisecond)
	s.flush()
	if done || !victim.Killed {
		t.Errorf("the faulting task was not killed")
	}
	if !strings.Contains(s.log.String(), "[lp_oops]") || !strings.Contains(s.log.String(), "BUG: kernel NULL pointer dereference") {
		t.Errorf("oops does not name the patch module:\n%s", s.log.String())
	}
	// Others keep running.
	if got := s.text(workload.SysVersion); !strings.HasPrefix(got, "Linux version") {
		t.Errorf("version after the oops: %q", got)
	}
	s.disable("lp_oops")
	s.rmmod("lp_oops")
	if len(s.k.Ftrace.Hooked()) != 0 {
		t.Error("hook left behind")
	}
	s.cat(workload.SysCmdline, "/proc/cmdline")
	testutil.Golden(t, "testdata/oops.golden", s.log.String())
}

// TestTracerAndPatch: a tracer on a patched function keeps both the trace
// and the patch working, and stays when the patch goes.
func TestTracerAndPatch(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	fn := s.k.Symbols["cmdline_proc_show"]
	hits := 0
	tracer := &ftrace.Ops{Name: "function-tracer", Func: func(ip, parent uint64, r *ftrace.Regs) { hits++ }}
	if err := s.k.Ftrace.Register(fn, tracer); err != nil {
		t.Fatal(err)
	}
	s.insmod("test_klp_livepatch")
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.Contains(got, patchedLine) {
		t.Errorf("not patched with a tracer: %q", got)
	}
	if hits != 1 {
		t.Errorf("tracer saw %d calls, want 1", hits)
	}
	s.disable("test_klp_livepatch")
	s.rmmod("test_klp_livepatch")
	s.cat(workload.SysCmdline, "/proc/cmdline")
	if hits != 2 || len(s.k.Ftrace.Hooked()) != 1 {
		t.Errorf("tracer: %d hits, %d hooked sites after unpatch", hits, len(s.k.Ftrace.Hooked()))
	}
	s.k.Ftrace.Unregister(fn, tracer)
	fmt.Fprintf(&s.log, "tracer hits: %d\n", hits)
	testutil.Golden(t, "testdata/tracer.golden", s.log.String())
}

// TestHammeredSyscall: several processes call the cmdline system call in
// a loop on 4 CPUs while it is patched and unpatched, under each model;
// every answer is either the old or the new text, every process sees
// the new text after the patching transition and the old after the
// unpatching one, and the consistency checker finds no task running a
// version its patch state does not select.
func TestHammeredSyscall(t *testing.T) {
	var table strings.Builder
	table.WriteString(hammeredHead)
	for _, mod := range []string{"test_klp_livepatch", "test_klp_livepatch_stop", "test_klp_livepatch_refcount"} {
		t.Run(mod, func(t *testing.T) {
			type stats struct{ old, patched, bad int }
			st := make([]stats, 6)
			// 0 before, 1 patching, 2 patched, 3 unpatching, 4 after.
			phase := 0
			s := bootSys(t, boot.Options{CPUs: 4, OnBootDone: func(k *boot.Kernel) {
				for i := range st {
					k.M.Spawn(fmt.Sprintf("hammer%d", i), func(u *machine.User) {
						for {
							txt, _ := workload.ReadText(u, workload.SysCmdline)
							switch {
							case txt == "console=hvc0\n":
								st[i].old++
								if phase == 2 {
									st[i].bad++
								}
							case strings.Contains(txt, patchedLine):
								st[i].patched++
								if phase == 0 || phase == 4 {
									st[i].bad++
								}
							default:
								st[i].bad++
							}
						}
					})
				}
			}})
			// Retry every millisecond rather than every second: the
			// hammers keep every CPU busy, which is slow to emulate.
			s.c.RetryPeriod = workload.Millisecond
			s.k.M.RunFor(5 * workload.Millisecond)
			phase = 1
			// stop_machine may find a hammer inside the function: busy,
			// try again as kpatch load does.
			tries := 0
			for {
				tries++
				_, err := s.k.LoadModule(s.k.Build.Modules[mod])
				if err == nil {
					break
				}
				if tries == 50 {
					t.Fatal(err)
				}
				s.k.M.RunFor(100_000)
			}
			if _, err := s.c.WaitTransition(1_000_000_000); err != nil {
				t.Fatal(err)
			}
			// Calls in flight finish; the next ones are patched.
			s.k.M.RunFor(1 * workload.Millisecond)
			phase = 2
			s.k.M.RunFor(10 * workload.Millisecond)
			phase = 3
			for {
				err := s.c.Disable(mod)
				if err == nil {
					break
				}
				if tries++; tries == 100 {
					t.Fatal(err)
				}
				s.k.M.RunFor(100_000)
			}
			if _, err := s.c.WaitTransition(1_000_000_000); err != nil {
				t.Fatal(err)
			}
			s.k.M.RunFor(1 * workload.Millisecond)
			phase = 4
			s.k.M.RunFor(10 * workload.Millisecond)
			for i, x := range st {
				if x.bad != 0 || x.patched == 0 || x.old == 0 {
					t.Errorf("hammer%d: %+v", i, x)
				}
			}
			r := lastReport(s.c, "patching")
			u := lastReport(s.c, "unpatching")
			if !r.Completed || !u.Completed {
				t.Errorf("transitions: %v; %v", r, u)
			}
			// The consistency checker (bootSys) saw the hammers run
			// both versions of cmdline_proc_show, each when its state
			// selected it.
			if n := s.chk.Executions(); n < 100 {
				t.Errorf("the consistency checker saw %d executions of a version of the patched function", n)
			}
			t.Logf("%d attempts, %d executions checked\n%v\n%v", tries, s.chk.Executions(), r, u)
			fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %d | %d |\n", r.Model, r.Duration(), r.GlobalPause, r.CPUStall,
				u.Duration(), u.GlobalPause, u.CPUStall)
		})
	}
	testutil.Golden(t, "testdata/hammered.golden", table.String())
}

const hammeredHead = `| model | patching: time to end (ns) | patching: global pause (ns) | patching: longest CPU stall (ns) | unpatching: time to end (ns) | unpatching: global pause (ns) | unpatching: longest CPU stall (ns) |
|---|---|---|---|---|---|---|
`

// TestView prints the sysfs-like view during a blocked transition and
// after it.
func TestView(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	s.insmod("test_klp_livepatch")
	s.step("load lp_sleep_kthread_hybrid.ko", func() error {
		_, err := s.k.LoadModule(s.k.Build.Modules["lp_sleep_kthread_hybrid"])
		return err
	})
	s.k.M.RunFor(5 * workload.Millisecond)
	s.log.WriteString("% livepatch status\n" + s.c.View())
	s.step("echo 1 > /sys/kernel/livepatch/lp_sleep_kthread_hybrid/force", s.c.Force)
	s.log.WriteString("% livepatch status\n" + s.c.View())
	if !strings.Contains(s.c.View(), "cmdline_proc_show,1/ (-> livepatch_cmdline_proc_show") {
		t.Error("no function entry NAME,SYMPOS in the view")
	}
	testutil.Golden(t, "testdata/view.golden", s.log.String())
}

// TestForce: as in Linux 6.x, forcing marks only the patches being
// removed. A forced patching transition marks nothing (both modules can
// be unloaded once disabled); a forced unpatching transition marks the
// patch it disables, whose module then stays.
func TestForce(t *testing.T) {
	const lp, sleepy = "test_klp_livepatch", "lp_sleep_kthread_hybrid"
	s := bootSys(t, boot.Options{CPUs: 2})
	s.insmod(lp)
	s.insmodNoWait(sleepy)
	s.k.M.RunFor(5 * workload.Millisecond)
	if s.c.InTransition() == nil {
		t.Fatal("patching transition not blocked")
	}
	s.step("echo 1 > /sys/kernel/livepatch/"+sleepy+"/force", s.c.Force)
	for _, n := range []string{lp, sleepy} {
		if s.c.Patch(n).Forced {
			t.Errorf("%s marked forced by a forced patching transition", n)
		}
	}
	// long_sleeper wakes, and sleeps again, now in the new do_long_wait:
	// the unpatching transition waits for it.
	s.k.M.RunFor(10_100 * workload.Millisecond)
	s.step("echo 0 > /sys/kernel/livepatch/"+sleepy+"/enabled", func() error { return s.c.Disable(sleepy) })
	s.k.M.RunFor(5 * workload.Millisecond)
	if s.c.InTransition() == nil {
		t.Fatal("unpatching transition not blocked")
	}
	s.step("echo 1 > /sys/kernel/livepatch/"+sleepy+"/force", s.c.Force)
	if !s.c.Patch(sleepy).Forced || s.c.Patch(lp).Forced {
		t.Errorf("forced: %s %v, %s %v; want only %s", sleepy, s.c.Patch(sleepy).Forced, lp, s.c.Patch(lp).Forced, sleepy)
	}
	if err := s.rmmod(sleepy); err == nil {
		t.Error("the module of a patch removed by force was unloaded")
	}
	s.disable(lp)
	if err := s.rmmod(lp); err != nil {
		t.Errorf("the module of a patch not removed by force stays: %v", err)
	}
	testutil.Golden(t, "testdata/force.golden", s.log.String())
}

// TestReversedTransition: disabling a patch whose transition is blocked
// reverses it; the reverse completes, and once the module is unloaded no
// hook is left.
func TestReversedTransition(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	s.step("insmod lp_sleep_kthread_hybrid.ko", func() error {
		_, err := s.k.LoadModule(s.k.Build.Modules["lp_sleep_kthread_hybrid"])
		return err
	})
	s.k.M.RunFor(5 * workload.Millisecond)
	if s.c.InTransition() == nil {
		t.Fatal("transition not blocked")
	}
	if err := s.disable("lp_sleep_kthread_hybrid"); err != nil {
		t.Fatal(err)
	}
	if s.c.InTransition() != nil {
		t.Fatal("reverse transition did not complete")
	}
	if err := s.rmmod("lp_sleep_kthread_hybrid"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.k.Ftrace.Hooked()); n != 0 {
		t.Errorf("%d hooks left", n)
	}
	var ops []string
	for _, r := range s.c.Reports {
		ops = append(ops, fmt.Sprintf("%s %s completed=%v reversed=%v", r.Patch, r.Op, r.Completed, r.Reversed))
	}
	s.log.WriteString(strings.Join(ops, "\n") + "\n")
	testutil.Golden(t, "testdata/reversed.golden", s.log.String())
}

// TestRefcountRescan: a task that keeps running kernel code on another
// CPU cannot be held for the reference-counting model's first scan. The
// transition must not switch on a count that may miss that task's frames:
// it waits, and the worker scans again a retry period later, once the
// task has left the kernel.
func TestRefcountRescan(t *testing.T) {
	var ret int64
	s := bootSys(t, boot.Options{CPUs: 2, OnBootDone: func(k *boot.Kernel) {
		k.M.Spawn("cruncher", func(u *machine.User) {
			// Long kernel work whose cond_resched() never gives the
			// CPU away: nothing else wants it.
			ret = u.Syscall(workload.SysKwork, 400_000, 1000)
			for {
				u.Syscall(workload.SysNanosleep, 100*workload.Millisecond)
			}
		})
	}})
	s.k.M.RunFor(50 * 1000) // the cruncher is in its system call
	if err := s.insmod("test_klp_livepatch_refcount"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.log.String(), "could not be scanned (cruncher") {
		t.Fatalf("the first scan held the running cruncher:\n%s", s.log.String())
	}
	// insmod waits up to 2 s for the transition.
	if ok, err := s.c.WaitTransition(3_000_000_000); err != nil || !ok {
		t.Fatalf("transition not complete 3 s later (%v):\n%s", err, s.log.String())
	}
	r := lastReport(s.c, "patching")
	if !r.Completed || r.Tries < 2 || r.Duration() < s.c.RetryPeriod {
		t.Errorf("report %s: want completed by a later scan, a retry period after the start\n%s", r, s.log.String())
	}
	if ret <= 0 && ret > -4096 {
		t.Errorf("sys_kwork returned %d", ret)
	}
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.Contains(got, patchedLine) {
		t.Errorf("not patched: %q", got)
	}
	s.disable("test_klp_livepatch_refcount")
	s.rmmod("test_klp_livepatch_refcount")
}
