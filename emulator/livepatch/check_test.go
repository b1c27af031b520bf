package livepatch_test

import (
	"slices"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// TestCStackWalkMatchesShadowStack: the kernel's frame-pointer unwinder
// (kernel/livepatch/transition.c) gives, for every task it walks, the
// addresses of the machine's shadow call stack (the truth), at many
// points of a busy system: the per-task model's retries, a
// stop_machine check and the reference-counting scan.
func TestCStackWalkMatchesShadowStack(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 4, OnBootDone: func(k *boot.Kernel) {
		if err := workload.Start(k.M, "mixed"); err != nil {
			t.Fatal(err)
		}
		if _, err := workload.Spawn(k.M, workload.Loaded(1, workload.LoadedConfig{Duration: 40 * workload.Millisecond})); err != nil {
			t.Fatal(err)
		}
	}})
	compared, unreliable := 0, 0
	s.c.StackSeen = func(task *machine.Task, entries []uint64, reliable bool) {
		if task.CPU() != nil {
			return // the checking task itself: it has moved on since
		}
		if !reliable {
			unreliable++
			t.Errorf("%s: the C walk is not reliable: %s", task, s.k.M.FormatStack(task))
			return
		}
		compared++
		if want := s.k.M.Stack(task).Reliable; !slices.Equal(entries, want) {
			t.Errorf("%s: C walk %x, shadow stack %x", task, entries, want)
		}
	}
	s.c.RetryPeriod = workload.Millisecond
	s.k.M.RunFor(2 * workload.Millisecond)
	// Blocked by long_sleeper: retried every millisecond.
	if _, err := s.k.LoadModule(s.k.Build.Modules["lp_sleep_kthread_hybrid"]); err != nil {
		t.Fatal(err)
	}
	s.k.M.RunFor(20 * workload.Millisecond)
	if s.c.InTransition() == nil {
		t.Fatal("the blocked transition completed")
	}
	if err := s.c.Force(); err != nil {
		t.Fatal(err)
	}
	perTask := compared
	for i := range 3 {
		for _, mod := range []string{"test_klp_livepatch_stop", "test_klp_livepatch_refcount"} {
			if err := s.insmod(mod); err != nil {
				t.Fatal(err)
			}
			if r := lastReport(s.c, "patching"); !r.Completed || r.Patch != mod {
				t.Fatalf("%s (%d): %v", mod, i, r)
			}
			s.k.M.RunFor(3 * workload.Millisecond)
			if err := s.disable(mod); err != nil {
				t.Fatal(err)
			}
			if err := s.rmmod(mod); err != nil {
				t.Fatal(err)
			}
		}
	}
	if perTask < 20 || compared-perTask < 60 {
		t.Errorf("too few stacks compared: %d by the per-task checks, %d by stop_machine and the scans", perTask, compared-perTask)
	}
	t.Logf("%d stacks compared (%d by the per-task checks), %d unreliable", compared, perTask, unreliable)
}

// TestCheckWorkCosts: the kernel built with the stack checks' comparison
// loop run twice (KCFLAGS=-DKLP_CHECK_PASSES=2) pauses the machine longer
// under stop_machine and holds each task longer under the per-task
// model, with the same seed and workload: the costs come from the
// instructions the checks execute, not from a formula. (On a small idle
// machine the extra work of stop_machine's check can hide in the round
// the other CPUs wait for anyway; with 16 CPUs or under load it cannot.)
func TestCheckWorkCosts(t *testing.T) {
	normal := kernelBuild(t)
	doubled := kernelBuildFlags(t, "-DKLP_CHECK_PASSES=2")
	for _, tc := range []struct {
		cpus   int
		loaded bool
	}{{4, true}, {16, false}, {16, true}} {
		for _, mod := range []string{"test_klp_livepatch_stop", "test_klp_livepatch"} {
			a := measure(t, normal, mod, tc.cpus, tc.loaded)
			b := measure(t, doubled, mod, tc.cpus, tc.loaded)
			t.Logf("%s, %d CPUs, loaded %v: pause %d -> %d ns, longest task hold %d -> %d ns",
				mod, tc.cpus, tc.loaded, a.GlobalPause, b.GlobalPause, a.MaxTaskPause, b.MaxTaskPause)
			if b.MaxTaskPause <= a.MaxTaskPause {
				t.Errorf("%s, %d CPUs, loaded %v: twice the check work, longest hold %d ns, was %d ns",
					mod, tc.cpus, tc.loaded, b.MaxTaskPause, a.MaxTaskPause)
			}
			if mod == "test_klp_livepatch_stop" && b.GlobalPause <= a.GlobalPause {
				t.Errorf("%s, %d CPUs, loaded %v: twice the check work, pause %d ns, was %d ns",
					mod, tc.cpus, tc.loaded, b.GlobalPause, a.GlobalPause)
			}
		}
	}
}
