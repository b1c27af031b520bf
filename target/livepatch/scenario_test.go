package livepatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/target/boot"
	"github.com/kpatchgo/kpatch-build/target/livepatch"
	"github.com/kpatchgo/kpatch-build/target/machine"
	"github.com/kpatchgo/kpatch-build/target/workload"
)

func liveTasks(m *machine.Machine) int {
	n := 0
	for _, t := range m.Tasks() {
		if t.State != machine.Dead {
			n++
		}
	}
	return n
}

func lastReport(c *livepatch.Core, op string) livepatch.Report {
	for i := len(c.Reports) - 1; i >= 0; i-- {
		if c.Reports[i].Op == op {
			return c.Reports[i]
		}
	}
	return livepatch.Report{}
}

func row(model string, cpus, tasks int, r livepatch.Report) string {
	res := "completed"
	if !r.Completed {
		res = "failed (" + r.Err + ")"
	}
	return fmt.Sprintf("| %-12s | %d | %3d | %8d | %8d | %11d | %s |\n", model, cpus, tasks, r.GlobalPause, r.MaxTaskPause, r.Duration(), res)
}

const tableHead = "| model        | CPUs | tasks | global pause (ns) | longest task pause (ns) | time to end (ns) | result |\n|---|---|---|---|---|---|---|\n"

// TestScenarioPauseScaling (a): stop_machine's pause grows with the
// number of tasks and CPUs; the per-task model has no global pause.
func TestScenarioPauseScaling(t *testing.T) {
	var b strings.Builder
	b.WriteString(tableHead)
	for _, cpus := range []int{1, 2, 4} {
		for _, extra := range []int{0, 16, 48} {
			for _, mod := range []string{"test_klp_livepatch_stop", "test_klp_livepatch"} {
				s := bootSys(t, boot.Options{CPUs: cpus, OnBootDone: func(k *boot.Kernel) {
					for i := 0; i < extra; i++ {
						k.M.Spawn(fmt.Sprintf("sleeper%d", i), workload.Sleeper(uint64(3+i%5)*workload.Millisecond))
					}
				}})
				s.k.M.RunFor(5 * workload.Millisecond)
				if err := s.insmod(mod); err != nil {
					t.Fatalf("%s: %v\n%s", mod, err, s.log.String())
				}
				r := lastReport(s.c, "patching")
				if !r.Completed {
					t.Fatalf("%s with %d CPUs, %d tasks: %v", mod, cpus, extra, r)
				}
				model := "stop_machine"
				if mod == "test_klp_livepatch" {
					model = "hybrid"
					if r.GlobalPause != 0 {
						t.Errorf("per-task model paused every CPU for %d ns", r.GlobalPause)
					}
				}
				b.WriteString(row(model, cpus, liveTasks(s.k.M), r))
			}
		}
	}
	testutil.Golden(t, "testdata/scenario-pause.golden", b.String())
}

// TestScenarioLongSleeper (b): a task sleeps for a long time inside a
// function being patched. A user process ("napper") sleeps 2 s in
// sys_nanosleep: stop_machine fails with busy and a stack dump; the
// per-task model sends it a fake signal (after SignalAfter) and
// completes when it passes through user space; the reference-counting
// model completes when it leaves the function. The long_sleeper kernel
// thread sleeps 10 s in do_long_wait and calls it again at once:
// stop_machine fails, the per-task model can only be forced (as in
// Linux, a woken kernel thread goes back to sleep in the same
// function), the reference-counting model completes when it returns.
func TestScenarioLongSleeper(t *testing.T) {
	var b strings.Builder
	var table strings.Builder
	table.WriteString(tableHead)
	for _, mod := range []string{"lp_sleep_stop", "lp_sleep_hybrid", "lp_sleep_refcount", "lp_sleep_immediate",
		"lp_sleep_kthread_stop", "lp_sleep_kthread_hybrid", "lp_sleep_kthread_refcount"} {
		s := bootSys(t, boot.Options{CPUs: 2, OnBootDone: napper})
		s.k.M.RunFor(20 * workload.Millisecond)
		s.log.WriteString("# " + mod + "\n")
		s.step("insmod "+mod+".ko", func() error {
			_, err := s.k.LoadModule(s.k.Build.Modules[mod])
			return err
		})
		if p := s.c.InTransition(); p != nil {
			s.k.M.RunFor(10 * workload.Millisecond)
			blocker, stack := s.c.Blocker()
			s.log.WriteString("% cat /sys/kernel/livepatch/" + mod + "/transition\n1\n")
			s.log.WriteString("blocked by: " + blocker + "\n" + stack)
			limit := uint64(12_000_000_000)
			if mod == "lp_sleep_kthread_hybrid" {
				limit = 100 * workload.Millisecond
			}
			s.step("wait for the transition", func() error {
				ok, err := s.c.WaitTransition(limit)
				if err == nil && !ok {
					err = fmt.Errorf("still in transition")
				}
				return err
			})
			if s.c.InTransition() != nil {
				s.step("echo 1 > /sys/kernel/livepatch/"+mod+"/force", s.c.Force)
			}
		}
		r := lastReport(s.c, "patching")
		switch {
		case strings.HasSuffix(mod, "_stop"):
			if r.Completed || !strings.Contains(r.Err, "busy") {
				t.Errorf("%s: %v", mod, r)
			}
			if s.k.Loader.Module(mod) != nil || len(s.k.Ftrace.Hooked()) != 0 {
				t.Errorf("%s: failed stop_machine patch left the module or a hook behind", mod)
			}
		case mod == "lp_sleep_hybrid":
			if !r.Completed || !r.Signalled || r.GlobalPause != 0 || r.Duration() > 100*workload.Millisecond {
				t.Errorf("hybrid: %v", r)
			}
		case mod == "lp_sleep_kthread_hybrid":
			if !r.Forced {
				t.Errorf("kthread hybrid: %v", r)
			}
		case strings.HasSuffix(mod, "_refcount"):
			if !r.Completed || r.GlobalPause != 0 || r.Duration() < 1_000_000_000 {
				t.Errorf("refcount: %v", r)
			}
		}
		b.WriteString(s.log.String())
		name := r.Model.String()
		if strings.Contains(mod, "kthread") {
			name += " (kthread)"
		}
		if r.Forced {
			name += " forced"
		}
		table.WriteString(row(name, 2, liveTasks(s.k.M), r))
	}
	testutil.Golden(t, "testdata/scenario-long-sleeper.golden", table.String()+"\n"+b.String())
}

// napper sleeps 2 s in sys_nanosleep, then computes with short system
// calls in between.
func napper(k *boot.Kernel) {
	k.M.Spawn("napper", func(u *machine.User) {
		u.Syscall(workload.SysNanosleep, 2_000_000_000)
		for {
			u.Compute(workload.Millisecond)
			u.Syscall(workload.SysGetpid)
		}
	})
}

// TestScenarioSchedule (c): schedule() is always on some task's stack:
// only the force flag (stop_machine) or the immediate flag (per-task)
// lets it be patched; without them stop_machine fails and the per-task
// transition stalls until it is forced.
func TestScenarioSchedule(t *testing.T) {
	var b strings.Builder
	var table strings.Builder
	table.WriteString(tableHead)
	for _, mod := range []string{"lp_sched_stop", "lp_sched_stop_force", "lp_sched_immediate_flag", "lp_sched_hybrid"} {
		s := bootSys(t, boot.Options{CPUs: 2, OnBootDone: quietSleepers})
		s.k.M.RunFor(10 * workload.Millisecond)
		s.log.WriteString("# " + mod + "\n")
		s.step("insmod "+mod+".ko", func() error {
			_, err := s.k.LoadModule(s.k.Build.Modules[mod])
			return err
		})
		if p := s.c.InTransition(); p != nil {
			s.k.M.RunFor(100 * workload.Millisecond)
			blocker, _ := s.c.Blocker()
			if s.c.InTransition() == nil {
				t.Fatalf("%s: the transition completed on its own", mod)
			}
			s.log.WriteString("after 100 ms still in transition, blocked by: " + blocker + "\n")
			s.step("echo 1 > /sys/kernel/livepatch/"+mod+"/force", s.c.Force)
			if s.c.InTransition() != nil {
				t.Errorf("%s: still in transition after force", mod)
			}
		}
		r := lastReport(s.c, "patching")
		name := r.Model.String() + flagOf(mod)
		if r.Forced {
			name += " forced"
		}
		table.WriteString(row(name, 2, liveTasks(s.k.M), r))
		switch mod {
		case "lp_sched_stop":
			if r.Completed {
				t.Errorf("stop_machine patched schedule() without the force flag")
			}
		default:
			if !r.Completed {
				t.Errorf("%s: %v", mod, r)
			}
			// The machine keeps running on the new schedule().
			s.k.M.RunFor(200 * workload.Millisecond)
			if mod != "lp_sched_hybrid" {
				s.disable(mod)
				s.rmmod(mod)
			} else if err := s.rmmod(mod); err == nil {
				t.Errorf("a forced patch's module could be unloaded")
			}
		}
		b.WriteString(s.log.String())
	}
	testutil.Golden(t, "testdata/scenario-schedule.golden", table.String()+"\n"+b.String())
}

func flagOf(mod string) string {
	switch {
	case strings.HasSuffix(mod, "_force"):
		return "+force"
	case strings.HasSuffix(mod, "_immediate_flag"):
		return "+immediate"
	}
	return ""
}

// quietSleepers are two user processes sleeping 50 and 80 ms at a time in
// sys_nanosleep, silently.
func quietSleepers(k *boot.Kernel) {
	for i, d := range []uint64{50, 80} {
		k.M.Spawn(fmt.Sprintf("sleeper%d", i), func(u *machine.User) {
			for {
				u.Syscall(workload.SysNanosleep, d*workload.Millisecond)
			}
		})
	}
}
