package machine_test

import (
	"fmt"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// TestVoluntaryPreemption: kernel code leaves its CPU only at preemption
// points, so at any moment of a busy machine every task that is not
// running and not in user space (and has run) is stopped right after a
// vmcall, where its frame-pointer walk is reliable and agrees with the
// shadow stack; user processes, preemptible anywhere, do get preempted.
func TestVoluntaryPreemption(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 4, Seed: 5, OnBootDone: func(k *boot.Kernel) {
		if err := workload.Start(k.M, "mixed"); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			k.M.Spawn(fmt.Sprintf("hammer%d", i), func(u *machine.User) {
				for {
					workload.ReadText(u, workload.SysMeminfo)
					u.Compute(3_000)
				}
			})
		}
	}})
	m := k.M
	checked, userWaiting := 0, 0
	for range 60 {
		if err := m.RunFor(50_000); err != nil {
			t.Fatal(err)
		}
		for _, task := range m.Tasks() {
			if task.State == machine.Dead || task.CPU() != nil {
				continue
			}
			if task.InUser() {
				if task.State == machine.Runnable {
					userWaiting++
				}
				continue
			}
			if task.Context().RIP == m.K.RetFromFork {
				continue // never ran
			}
			st := m.Stack(task)
			checked++
			if !st.FPReliable || !st.Agree() {
				t.Fatalf("%s (%s) stopped outside a preemption point:\n%s", task, task.State, m.FormatStack(task))
			}
		}
	}
	if checked < 200 || userWaiting == 0 {
		t.Errorf("checked %d stopped kernel stacks, saw %d preempted user processes", checked, userWaiting)
	}
	t.Logf("%d stopped kernel stacks, all at a vmcall; %d preempted user processes", checked, userWaiting)
}
