package livepatch_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func lastReport(c *livepatch.Core, op string) livepatch.Report {
	for i := len(c.Reports) - 1; i >= 0; i-- {
		if c.Reports[i].Op == op {
			return c.Reports[i]
		}
	}
	return livepatch.Report{}
}

func row(model string, cpus int, r livepatch.Report) string {
	res := "completed"
	if !r.Completed {
		res = "failed (" + r.Err + ")"
	}
	return fmt.Sprintf("| %-12s | %d | %3d | %8d | %8d | %11d | %s |\n", model, cpus, r.Tasks, r.GlobalPause, r.MaxTaskPause, r.Duration(), res)
}

const tableHead = "| model        | CPUs | tasks | global pause (ns) | longest task pause (ns) | time to end (ns) | result |\n|---|---|---|---|---|---|---|\n"

// The loaded rows run workload.Loaded: per CPU, long kernel work with
// cond_resched() every 500 steps, a spinlock holder, two processes
// sharing a mutex (one sleeps holding it), a nanosleeper and a
// wait-queue waiter, plus one waker. It is spawned when the boot ends,
// starts new calls during loadFor and then exits, so that virtual time
// can jump once the machine is idle; the patch is loaded loadBefore ns
// after boot, while every CPU is busy.
const (
	loadFor    = 3 * workload.Millisecond
	loadBefore = 1 * workload.Millisecond
)

// measure boots a kernel with cpus CPUs (loaded or idle), loads mod and
// returns the patching transition's report; seed seeds the scheduler and
// the loaded workload's draws (0: 1).
func measure(t *testing.T, b *boot.Build, mod string, cpus int, loaded bool) livepatch.Report {
	return measureSeed(t, b, mod, cpus, loaded, 1)
}

func measureSeed(t *testing.T, b *boot.Build, mod string, cpus int, loaded bool, seed int64) livepatch.Report {
	t.Helper()
	s := bootSysBuild(t, b, boot.Options{CPUs: cpus, Seed: seed, OnBootDone: func(k *boot.Kernel) {
		if !loaded {
			return
		}
		if _, err := workload.Spawn(k.M, workload.Loaded(cpus, workload.LoadedConfig{Duration: loadFor, Seed: seed})); err != nil {
			t.Fatal(err)
		}
	}})
	s.k.M.RunFor(loadBefore)
	if err := s.insmod(mod); err != nil {
		t.Fatalf("%s: %v\n%s", mod, err, s.log.String())
	}
	r := lastReport(s.c, "patching")
	if !r.Completed {
		t.Fatalf("%s with %d CPUs (loaded %v, seed %d): %v\n%s", mod, cpus, loaded, seed, r, s.log.String())
	}
	return r
}

// seedCount is the number of seeds the seeds' table is measured with.
const seedCount = 8

// spread is a figure over the seeds: its median (the mean of the two
// middle values) and range.
type spread struct{ med, lo, hi uint64 }

func spreadOf(xs []uint64) spread {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	n := len(ys)
	return spread{med: (ys[(n-1)/2] + ys[n/2]) / 2, lo: ys[0], hi: ys[n-1]}
}

func (s spread) String() string {
	if s.lo == s.hi {
		return fmt.Sprint(s.med)
	}
	return fmt.Sprintf("%d (%d–%d)", s.med, s.lo, s.hi)
}

// seedRow is one row of the seeds' table: each figure over the seeds.
type seedRow struct {
	cpus   int
	loaded bool
	tasks  spread
	// stop_machine's pause and CPU stall; the per-task model's
	// completion, longest task hold and CPU stall; reference counting's
	// completion and CPU stall.
	stopPause, stopStall, hybDone, hybHold, hybStall, refDone, refStall spread
}

const seedsHead = `| CPUs | load | tasks | stop_machine: pause (ns) | stop_machine: longest CPU stall (ns) | per-task: completion (ns) | per-task: longest task delay (ns) | per-task: longest CPU stall (ns) | refcount: completion (ns) | refcount: longest CPU stall (ns) |
|---|---|---|---|---|---|---|---|---|---|
`

func (r seedRow) String() string {
	load := "idle"
	if r.loaded {
		load = "loaded"
	}
	return fmt.Sprintf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.cpus, load, r.tasks,
		r.stopPause, r.stopStall, r.hybDone, r.hybHold, r.hybStall, r.refDone, r.refStall)
}

// seedsTable measures the three models on 1, 4, 8 and 16 CPUs, idle and
// loaded, with the kernel b, once per seed 1..seedCount.
func seedsTable(t *testing.T, b *boot.Build) []seedRow {
	var rows []seedRow
	for _, cpus := range []int{1, 4, 8, 16} {
		for _, loaded := range []bool{false, true} {
			var tasks, sp, ss, hd, hh, hs, rd, rs []uint64
			for seed := int64(1); seed <= seedCount; seed++ {
				stop := measureSeed(t, b, "test_klp_livepatch_stop", cpus, loaded, seed)
				hyb := measureSeed(t, b, "test_klp_livepatch", cpus, loaded, seed)
				ref := measureSeed(t, b, "test_klp_livepatch_refcount", cpus, loaded, seed)
				if hyb.GlobalPause != 0 || ref.GlobalPause != 0 {
					t.Errorf("%d CPUs, seed %d: a global pause outside stop_machine: %v; %v", cpus, seed, hyb, ref)
				}
				tasks = append(tasks, uint64(stop.Tasks))
				sp, ss = append(sp, stop.GlobalPause), append(ss, stop.CPUStall)
				hd, hh, hs = append(hd, hyb.Duration()), append(hh, hyb.MaxTaskPause), append(hs, hyb.CPUStall)
				rd, rs = append(rd, ref.Duration()), append(rs, ref.CPUStall)
			}
			rows = append(rows, seedRow{cpus: cpus, loaded: loaded, tasks: spreadOf(tasks),
				stopPause: spreadOf(sp), stopStall: spreadOf(ss), hybDone: spreadOf(hd), hybHold: spreadOf(hh),
				hybStall: spreadOf(hs), refDone: spreadOf(rd), refStall: spreadOf(rs)})
		}
	}
	return rows
}

// TestScenarioSeedsTable (a): the seeds' table, each figure the median
// and range over seedCount seeds. On the medians: stop_machine's pause,
// measured by the kernel's own clock reads around its stopper threads,
// grows with the number of CPUs and with load (every CPU busy in a
// system call must reach a preemption point before it stops), and the
// CPU stall the machine measures matches it; the per-task and
// reference-counting models hold one task at a time and leave the other
// CPUs running: their longest CPU stall, measured the same way, is 0.
func TestScenarioSeedsTable(t *testing.T) {
	rows := seedsTable(t, kernelBuild(t))
	var b strings.Builder
	b.WriteString(seedsHead)
	for i, r := range rows {
		b.WriteString(r.String())
		if r.hybStall.hi != 0 || r.refStall.hi != 0 {
			t.Errorf("%d CPUs (loaded %v): another CPU made no progress during a per-task or refcount check: per-task %v ns, refcount %v ns",
				r.cpus, r.loaded, r.hybStall, r.refStall)
		}
		if r.stopPause.lo == 0 || r.hybHold.lo == 0 {
			t.Errorf("%d CPUs: a cost of 0: pause %v, task hold %v", r.cpus, r.stopPause, r.hybHold)
		}
		// The stall seen from outside and the pause the stoppers
		// measured are the same stretch, give or take the time the
		// first and last CPU take to stop and leave.
		if r.cpus > 1 && (r.stopStall.med < r.stopPause.med/2 || r.stopStall.med > 2*r.stopPause.med) {
			t.Errorf("%d CPUs (loaded %v): stop_machine's CPU stall %v ns, its pause %v ns", r.cpus, r.loaded, r.stopStall, r.stopPause)
		}
		if i%2 == 1 && r.stopPause.med <= rows[i-1].stopPause.med {
			t.Errorf("%d CPUs: stop_machine's median pause does not grow with load: idle %v, loaded %v",
				r.cpus, rows[i-1].stopPause, r.stopPause)
		}
		if i >= 2 && r.stopPause.med <= rows[i-2].stopPause.med {
			t.Errorf("stop_machine's median pause (loaded %v) does not grow from %d to %d CPUs: %v -> %v",
				r.loaded, rows[i-2].cpus, r.cpus, rows[i-2].stopPause, r.stopPause)
		}
	}
	testutil.Golden(t, "testdata/scenario-seeds.golden", b.String())
}

// TestScenarioLongSleeper (b): a task sleeps for a long time inside a
// function being patched. A user process ("napper") sleeps 30 s in
// sys_nanosleep: stop_machine fails with busy and a stack dump; the
// per-task model retries every second and, after 15 failed retries,
// sends it a fake signal: it completes when the napper passes through
// user space; the reference-counting model completes when it leaves the
// function. The long_sleeper kernel thread sleeps 10 s in do_long_wait
// (msleep, an uninterruptible sleep) and calls it again at once:
// stop_machine fails, the per-task model cannot switch it (as in Linux,
// kernel threads are woken only from an interruptible sleep, and a woken
// one would go back to sleep in the same function) and can only be
// forced, the reference-counting model completes when it returns.
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
			limit := uint64(40_000_000_000)
			if mod == "lp_sleep_kthread_hybrid" {
				limit = 20_000_000_000
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
			// Signalled with the 16th try, 15 s after the first.
			if !r.Completed || !r.Signalled || r.GlobalPause != 0 ||
				r.Duration() < 15_000_000_000 || r.Duration() > 17_000_000_000 {
				t.Errorf("hybrid: %v", r)
			}
		case mod == "lp_sleep_kthread_hybrid":
			if !r.Forced || !r.Signalled {
				t.Errorf("kthread hybrid: %v", r)
			}
		case strings.HasSuffix(mod, "_refcount"):
			if !r.Completed || r.GlobalPause != 0 || r.Duration() < 1_000_000_000 {
				t.Errorf("refcount: %v", r)
			}
		case mod == "lp_sleep_immediate":
			// The immediate model switches the napper and long_sleeper
			// while they sleep in the functions: the checker sees it
			// and, the model promising nothing, waives it.
			var who []string
			for _, v := range s.chk.Waived() {
				if v.Rule == "switched-inside" && v.Waiver == "immediate model" {
					who = append(who, v.Task)
				}
			}
			if got := strings.Join(who, " "); got != "long_sleeper[3] napper[5]" {
				t.Errorf("immediate: waived switches inside a function: %q, want long_sleeper[3] napper[5]", got)
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
		table.WriteString(row(name, 2, r))
	}
	testutil.Golden(t, "testdata/scenario-long-sleeper.golden", table.String()+"\n"+b.String())
}

// napper sleeps 30 s in sys_nanosleep (longer than the 15 retries after
// which the per-task model signals), then computes a little with short
// system calls in between, and exits (so that the machine idles and
// virtual time can jump).
func napper(k *boot.Kernel) {
	k.M.Spawn("napper", func(u *machine.User) {
		u.Syscall(workload.SysNanosleep, 30_000_000_000)
		for range 10 {
			u.Compute(100_000)
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
		table.WriteString(row(name, 2, r))
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
