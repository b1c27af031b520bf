package livepatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// rules lists the distinct rules of vs, in order of first appearance.
func rules(vs []livepatch.Violation) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range vs {
		if !seen[v.Rule] {
			seen[v.Rule] = true
			out = append(out, v.Rule)
		}
	}
	return out
}

// mutationRun is one run of a scenario, with a mutation or without.
type mutationRun struct {
	violations []livepatch.Violation
	inTrans    bool
	report     livepatch.Report
}

// runIPScenario boots kernel b on 2 CPUs with two user sleepers, loads
// mod (a patch of __schedule(), where every sleeping task's %rip is) and
// runs 200 ms; a transition still blocked is forced at the end.
func runIPScenario(t *testing.T, b *boot.Build, mod string) mutationRun {
	s := bootSysBuild(t, b, boot.Options{CPUs: 2, OnBootDone: quietSleepers})
	s.inconsistent = true
	s.k.M.RunFor(10 * workload.Millisecond)
	if _, err := s.k.LoadModule(s.k.Build.Modules[mod]); err != nil && !strings.HasSuffix(mod, "_stop") {
		t.Fatalf("%s: %v", mod, err)
	}
	s.k.M.RunFor(200 * workload.Millisecond)
	return s.mutationRun()
}

// mutationRun reports what the checker saw and forces a transition still
// blocked.
func (s *sys) mutationRun() mutationRun {
	r := mutationRun{violations: s.chk.Violations(), inTrans: s.c.InTransition() != nil, report: lastReport(s.c, "patching")}
	if r.inTrans {
		if err := s.c.Force(); err != nil {
			s.t.Fatal(err)
		}
	}
	return r
}

// runLongWaitScenario boots the kernel on 2 CPUs and loads
// lp_sleep_kthread_hybrid, a patch of do_long_wait(), which the
// long_sleeper kernel thread sleeps in for 10 s at a stretch (so the
// transition cannot switch it) and calls again at once; it runs 12 s, so
// that long_sleeper calls do_long_wait() again before its switch.
func runLongWaitScenario(t *testing.T, mutation string) mutationRun {
	s := bootSys(t, boot.Options{CPUs: 2})
	s.inconsistent = true
	s.c.Mutate(mutation)
	if _, err := s.k.LoadModule(s.k.Build.Modules["lp_sleep_kthread_hybrid"]); err != nil {
		t.Fatal(err)
	}
	s.k.M.RunFor(12_000 * workload.Millisecond)
	return s.mutationRun()
}

// TestConsistencyMutations shows that the consistency checker catches,
// through what the machine executes, the two bugs that no cost figure
// and no output comparison caught: each scenario runs once as the code
// is (no violation) and once with the bug (violations of the named
// rules).
//
//   - The ftrace handler ignoring the task's patch state: long_sleeper,
//     not yet switched (it sleeps in do_long_wait), wakes after 10 s and
//     calls do_long_wait again; it must run the old code, the bug gives
//     it the new one (new-before-switch).
//   - The C stack check skipping the held task's own %rip (kernel built
//     with -DKLP_CHECK_SKIP_IP; only return addresses compared): under
//     the per-task, stop_machine and reference-counting models, a patch
//     of __schedule(), where every sleeping task's %rip is, switches the
//     sleepers (switched-inside), which then run the old __schedule()
//     when they wake (old-after-switch). Without the bug the per-task and
//     reference-counting transitions stay blocked and stop_machine fails
//     with busy.
func TestConsistencyMutations(t *testing.T) {
	var table, first strings.Builder
	table.WriteString("| bug | patch (model) | without the bug | with the bug |\n|---|---|---|---|\n")
	record := func(bug, mod string, good, bad mutationRun) {
		n := len(bad.violations)
		fmt.Fprintf(&table, "| %s | %s (%s) | %s | %d violations: %s |\n", bug, mod, bad.report.Model,
			outcome(good), n, strings.Join(rules(bad.violations), ", "))
		if n > 0 {
			fmt.Fprintf(&first, "%s, %s: %s\n", bug, mod, bad.violations[0])
		}
	}
	t.Run("handler-ignores-task-state", func(t *testing.T) {
		good := runLongWaitScenario(t, "")
		if len(good.violations) != 0 || !good.inTrans {
			t.Errorf("without the bug: violations %v, in transition %v", good.violations, good.inTrans)
		}
		bad := runLongWaitScenario(t, livepatch.MutationHandlerIgnoresState)
		if got := rules(bad.violations); len(got) == 0 || got[0] != "new-before-switch" {
			t.Errorf("with the bug: rules %v, want new-before-switch first; violations %v", got, bad.violations)
		}
		record("handler ignores the task's patch state", "lp_sleep_kthread_hybrid", good, bad)
	})
	t.Run("check-skips-ip", func(t *testing.T) {
		normal := kernelBuild(t)
		skipIP := kernelBuildFlags(t, "-DKLP_CHECK_SKIP_IP")
		for _, mod := range []string{"lp_ip", "lp_ip_stop", "lp_ip_refcount"} {
			good := runIPScenario(t, normal, mod)
			blocked := good.inTrans || strings.Contains(good.report.Err, "busy")
			if len(good.violations) != 0 || !blocked {
				t.Errorf("%s without the bug: violations %v, blocked %v (%v)", mod, good.violations, blocked, good.report)
			}
			bad := runIPScenario(t, skipIP, mod)
			got := fmt.Sprint(rules(bad.violations))
			if !strings.Contains(got, "switched-inside") || !strings.Contains(got, "old-after-switch") {
				t.Errorf("%s with the bug: rules %s, want switched-inside and old-after-switch; violations %v (%v)",
					mod, got, bad.violations, bad.report)
			}
			record("stack check skips the task's %rip", mod, good, bad)
		}
	})
	testutil.Golden(t, "testdata/mutations.golden", table.String()+"\n"+first.String())
}

// outcome describes a run without the bug.
func outcome(r mutationRun) string {
	s := fmt.Sprintf("%d violations", len(r.violations))
	switch {
	case r.inTrans:
		s += ", transition blocked (forced)"
	case !r.report.Completed:
		s += ", failed: " + r.report.Err
	}
	return s
}
