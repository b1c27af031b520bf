package workload_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// loadedRun is what a run of the loaded workload showed.
type loadedRun struct {
	end   uint64         // virtual time when the last process exited
	seen  map[string]int // samples in which some task was in each place
	trace string         // every sample's task states
}

// Where a task of the loaded workload can be, by a function on its stack.
var loadedPlaces = []struct{ name, fn string }{
	{"kernel work", "sys_kwork"},
	{"spinlock held or awaited", "sys_spin_work"},
	{"blocked on a mutex", "__mutex_lock"},
	{"asleep holding a mutex", "sys_mutex_sleep+"},
	{"asleep in nanosleep", "sys_nanosleep"},
	{"asleep on the wait queue", "sys_wait_event"},
}

func runLoaded(t *testing.T, cpus int, cfg workload.LoadedConfig) loadedRun {
	t.Helper()
	k := targettest.Boot(t, boot.Options{CPUs: cpus, Seed: 1})
	m := k.M
	ts, err := workload.Spawn(m, workload.Loaded(cpus, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6*cpus+1 {
		t.Fatalf("%d processes for %d CPUs, want %d", len(ts), cpus, 6*cpus+1)
	}
	start := m.Now()
	r := loadedRun{seen: map[string]int{}}
	var trace strings.Builder
	for !workload.Exited(ts) {
		if m.Now()-start > cfg.Duration+20*workload.Millisecond {
			t.Fatalf("%d CPUs: the workload still runs %d ns after its %d ns:\n%s", cpus, m.Now()-start-cfg.Duration, cfg.Duration, m.FormatTasks())
		}
		if err := m.RunFor(100_000); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&trace, "%d:", m.Now())
		for _, p := range loadedPlaces {
			for _, task := range ts {
				if task.State != machine.Dead && strings.Contains(m.FormatStack(task), p.fn) {
					r.seen[p.name]++
					break
				}
			}
		}
		for _, task := range ts {
			fmt.Fprintf(&trace, " %s%v", task.State, task.InUser())
		}
		trace.WriteString("\n")
	}
	r.end = m.Now() - start
	r.trace = trace.String()
	return r
}

// The loaded workload puts tasks in every kind of kernel activity, ends
// after its duration, and is a function of its seed.
func TestLoaded(t *testing.T) {
	cfg := workload.LoadedConfig{Seed: 7, Duration: 5 * workload.Millisecond}
	for _, cpus := range []int{1, 4, 16} {
		r := runLoaded(t, cpus, cfg)
		for _, p := range loadedPlaces {
			if r.seen[p.name] == 0 {
				t.Errorf("%d CPUs: no task ever %s", cpus, p.name)
			}
		}
		t.Logf("%d CPUs: ended %d ns after the start; samples per place %v", cpus, r.end, r.seen)
		if cpus != 4 {
			continue
		}
		if again := runLoaded(t, cpus, cfg); again.trace != r.trace {
			t.Errorf("two runs with seed %d differ", cfg.Seed)
		}
		other := cfg
		other.Seed = 8
		if r2 := runLoaded(t, cpus, other); r2.trace == r.trace {
			t.Errorf("seeds %d and %d give the same run", cfg.Seed, other.Seed)
		}
	}
}
