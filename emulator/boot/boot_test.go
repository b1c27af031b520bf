package boot_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// transcript boots with the mixed workload, runs 300 ms of virtual time
// and returns the console followed by the task list with stacks.
func transcript(t *testing.T, cpus int, seed int64) (string, *boot.Kernel) {
	t.Helper()
	k := targettest.Boot(t, boot.Options{CPUs: cpus, Seed: seed, OnBootDone: func(k *boot.Kernel) {
		if err := workload.Start(k.M, "mixed"); err != nil {
			t.Error(err)
		}
	}})
	if err := k.M.RunFor(300_000_000); err != nil {
		t.Fatalf("%v\n%s", err, k.M.Console())
	}
	return k.M.Console() + "--- tasks ---\n" + k.M.FormatTasks(), k
}

func TestBootGolden(t *testing.T) {
	for _, tc := range []struct {
		cpus int
		seed int64
	}{{1, 1}, {4, 7}} {
		t.Run(fmt.Sprintf("cpus%d", tc.cpus), func(t *testing.T) {
			got, k := transcript(t, tc.cpus, tc.seed)
			live := 0
			for _, task := range k.M.Tasks() {
				if task.State != machine.Dead {
					live++
				}
			}
			if live < 8 {
				t.Errorf("%d live tasks, want at least 8", live)
			}
			if !strings.Contains(got, fmt.Sprintf("boot: done, %d CPU(s)", tc.cpus)) {
				t.Errorf("no boot message for %d CPUs", tc.cpus)
			}
			for cpu := 1; cpu < tc.cpus; cpu++ {
				if !strings.Contains(got, fmt.Sprintf("smp: CPU %d online", cpu)) {
					t.Errorf("CPU %d did not come online", cpu)
				}
			}
			testutil.Golden(t, fmt.Sprintf("testdata/mixed-cpus%d-seed%d.golden", tc.cpus, tc.seed), got)
			again, _ := transcript(t, tc.cpus, tc.seed)
			if again != got {
				t.Errorf("same seed, different transcript:\n%s\n----\n%s", got, again)
			}
		})
	}
}

// TestSeedMatters checks that the seed drives the interleaving.
func TestSeedMatters(t *testing.T) {
	a, _ := transcript(t, 4, 1)
	b, _ := transcript(t, 4, 2)
	if a == b {
		t.Error("seeds 1 and 2 gave the same 4-CPU transcript")
	}
}

// TestStacksAgree samples every task's stack many times while a busy
// mixed workload runs: wherever the frame-pointer walk claims to be
// reliable, it must give exactly the shadow stack's addresses; for
// preempted tasks, its addresses must be a subsequence of them.
func TestStacksAgree(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 3, Quantum: 777, OnBootDone: func(k *boot.Kernel) {
		workload.Start(k.M, "mixed")
		for i := 0; i < 3; i++ {
			// Kernel-heavy: formatting /proc/stat over and over.
			k.M.Spawn(fmt.Sprintf("statloop%d", i), func(u *machine.User) {
				for {
					workload.ReadText(u, workload.SysStat)
				}
			})
		}
	}})
	checked, preempted := 0, 0
	for i := 0; i < 150; i++ {
		if err := k.M.RunFor(61_729); err != nil {
			t.Fatal(err)
		}
		for _, task := range k.M.Tasks() {
			if task.State == machine.Dead || task.InUser() {
				continue
			}
			st := k.M.Stack(task)
			if len(st.Reliable) < 1 {
				t.Errorf("%s: shadow stack too short: %x", task, st.Reliable)
			}
			if !machine.IsSubsequence(st.FP, st.Reliable) {
				t.Fatalf("%s: frame-pointer walk has frames the shadow stack lacks:\n%s", task, k.M.FormatStack(task))
			}
			if !st.FPReliable {
				preempted++
				continue
			}
			checked++
			if !st.Agree() {
				t.Fatalf("%s: unwinders disagree:\n%s", task, k.M.FormatStack(task))
			}
		}
	}
	if checked < 1000 || preempted < 100 {
		t.Errorf("checked %d reliable stacks and %d preempted ones: want more", checked, preempted)
	}
	out := k.M.FormatTasks()
	for _, want := range []string{"schedule+0x", "do_long_wait+0x", "ret_from_fork+0x", "entry_SYSCALL_64+0x", "/0x"} {
		if !strings.Contains(out, want) {
			t.Errorf("task list lacks %q:\n%s", want, out)
		}
	}
}

// TestSixteenCPUs boots NR_CPUS (16) CPUs: every one comes online with
// its own per-CPU area; one more is refused.
func TestSixteenCPUs(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: machine.NrCPUs, Seed: 1})
	out := k.M.Console()
	seen := map[uint64]bool{}
	for _, v := range k.M.CPUs() {
		if v.ID > 0 && !strings.Contains(out, fmt.Sprintf("smp: CPU %d online", v.ID)) {
			t.Errorf("CPU %d did not come online:\n%s", v.ID, out)
		}
		if seen[v.PerCPU] {
			t.Errorf("CPU %d shares its per-CPU area %#x", v.ID, v.PerCPU)
		}
		seen[v.PerCPU] = true
	}
	if n, _ := k.M.Mem.Read32(k.Symbols["nr_cpu_ids"]); n != machine.NrCPUs {
		t.Errorf("nr_cpu_ids = %d, want %d", n, machine.NrCPUs)
	}
	if _, err := machine.New(machine.Config{CPUs: machine.NrCPUs + 1}); err == nil {
		t.Errorf("a machine with %d CPUs was created", machine.NrCPUs+1)
	}
}
