package livepatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// The realistic workload's parameters and where they come from.
const (
	// realisticCPUs is the machine of the seeds' loaded figure (a
	// 16-CPU machine).
	realisticCPUs = 16
	// Non-preemptible sections (a spinlock held, as with
	// spin_lock_irqsave) from 100 µs to 2.5 ms: the two examples with
	// which the kernel's latency tracers were introduced, an irqs-off
	// section of 100 µs in e1000_update_stats (Linux commit 81d68a96a398,
	// "ftrace: trace irq disabled critical timings") and a
	// preempt-and-irqs-off section of 2463 µs ending in
	// remove_wait_queue (commit cc51a0fca666, "tracing: Add stack trace
	// to irqsoff tracer").
	sectionMinNs = 100_000
	sectionMaxNs = 2_500_000
	// The seeds' figures: a stop_machine pause of about 1 ms on an idle
	// system and 40 ms on a loaded 16-CPU machine.
	seedIdlePauseNs   = 1_000_000
	seedLoadedPauseNs = 40_000_000
)

// nsPerSpinStep measures how long one step of sys_spin_work takes: the
// difference between a call of 101000 steps and one of 1000, over the
// 100000 steps between them, on one idle CPU.
func nsPerSpinStep(t *testing.T) uint64 {
	var d [2]uint64
	done := false
	s := bootSys(t, boot.Options{CPUs: 1, OnBootDone: func(k *boot.Kernel) {
		k.M.Spawn("calibrate", func(u *machine.User) {
			for i, n := range []uint64{1000, 101000} {
				start := u.Now()
				u.Syscall(workload.SysSpinWork, 0, n)
				d[i] = u.Now() - start
			}
			done = true
		})
	}})
	if err := s.k.M.RunUntil(func() bool { return done }, s.k.M.Now()+100*workload.Millisecond); err != nil || !done {
		t.Fatalf("calibration did not finish: %v", err)
	}
	return (d[1] - d[0]) / 100000
}

// measureRealistic boots 16 CPUs with the deep_sleepers module (500
// kernel threads asleep under 10 to 20 frames), loaded or idle, and
// loads mod.
func measureRealistic(t *testing.T, mod string, loaded bool, spin [2]int) livepatch.Report {
	t.Helper()
	const loadedFor = 8 * workload.Millisecond
	s := bootSys(t, boot.Options{CPUs: realisticCPUs})
	if _, err := s.k.LoadModule(s.k.Build.Modules["deep_sleepers"]); err != nil {
		t.Fatal(err)
	}
	if loaded {
		cfg := workload.LoadedConfig{Duration: loadedFor, SpinMin: spin[0], SpinMax: spin[1]}
		if _, err := workload.Spawn(s.k.M, workload.Loaded(realisticCPUs, cfg)); err != nil {
			t.Fatal(err)
		}
	}
	s.k.M.RunFor(3 * workload.Millisecond)
	if err := s.insmod(mod); err != nil {
		t.Fatalf("%s: %v", mod, err)
	}
	r := lastReport(s.c, "patching")
	if !r.Completed {
		t.Fatalf("%s (loaded %v): %v", mod, loaded, r)
	}
	return r
}

// TestScenarioRealistic: the seeds' table with a workload that resembles
// the systems the seeds measured: 16 CPUs, 500 sleeping kernel threads
// with stacks 10 to 20 frames deep (beside the kernel's own tasks), and,
// loaded, workload.Loaded with its spinlock sections lengthened to Linux's
// 100 µs to 2.5 ms (steps calibrated by nsPerSpinStep). stop_machine's
// pause is compared with the seeds' figures (about 1 ms idle, 40 ms
// loaded on 16 CPUs).
func TestScenarioRealistic(t *testing.T) {
	if testing.Short() {
		t.Skip("the realistic workload takes seconds of emulation")
	}
	step := nsPerSpinStep(t)
	spin := [2]int{int(sectionMinNs / step), int(sectionMaxNs / step)}
	var b strings.Builder
	fmt.Fprintf(&b, "one sys_spin_work step: %d ns; sections of %d to %d steps\n\n", step, spin[0], spin[1])
	b.WriteString("| load | tasks | stop_machine: pause (ns) | the seeds' pause (ns) | ratio | stop_machine: longest CPU stall (ns) | per-task: completion (ns) | per-task: longest task delay (ns) | per-task: longest CPU stall (ns) | refcount: completion (ns) | refcount: longest CPU stall (ns) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var idlePause uint64
	for _, loaded := range []bool{false, true} {
		stop := measureRealistic(t, "test_klp_livepatch_stop", loaded, spin)
		hyb := measureRealistic(t, "test_klp_livepatch", loaded, spin)
		ref := measureRealistic(t, "test_klp_livepatch_refcount", loaded, spin)
		load, seed := "idle", uint64(seedIdlePauseNs)
		if loaded {
			load, seed = "loaded", seedLoadedPauseNs
		}
		ratio := float64(stop.GlobalPause) / float64(seed)
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.2f | %d | %d | %d | %d | %d | %d |\n", load, stop.Tasks, stop.GlobalPause, seed, ratio,
			stop.CPUStall, hyb.Duration(), hyb.MaxTaskPause, hyb.CPUStall, ref.Duration(), ref.CPUStall)
		t.Logf("%s: %v\n%v\n%v", load, stop, hyb, ref)
		if !loaded {
			// Within 3x of the seeds' idle figure.
			idlePause = stop.GlobalPause
			if ratio < 1.0/3 || ratio > 3 {
				t.Errorf("idle: pause %d ns, not within 3x of the seeds' %d ns", stop.GlobalPause, seed)
			}
		} else if stop.GlobalPause <= idlePause || stop.GlobalPause > sectionMaxNs+3*idlePause {
			// Why the loaded figure cannot reach the seeds' 40 ms: the
			// pause is the wait for the last CPU to leave its section
			// plus the check, which costs more than idle with the
			// load's tasks (about 600 instead of 520): it stays below
			// the longest section plus three times the idle pause.
			t.Errorf("loaded: pause %d ns, want above the idle %d ns and below the longest section (%d ns) plus three times the idle pause",
				stop.GlobalPause, idlePause, sectionMaxNs)
		}
		if hyb.CPUStall != 0 || ref.CPUStall != 0 {
			t.Errorf("%s: a CPU stalled during a per-task or refcount check: %d, %d ns", load, hyb.CPUStall, ref.CPUStall)
		}
	}
	testutil.Golden(t, "testdata/scenario-realistic.golden", b.String())
}
