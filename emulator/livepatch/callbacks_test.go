package livepatch_test

import (
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// procQuiet reads /proc/name without logging it (a check the selftest
// does silently).
func (s *sys) procQuiet(name string) string {
	s.t.Helper()
	var out string
	done := false
	s.k.M.Spawn("cat", func(u *machine.User) {
		out, _ = workload.ProcRead(u, name)
		done = true
	})
	s.k.M.RunUntil(func() bool { return done }, s.k.M.Now()+100_000_000)
	return out
}

// insmodNoWait loads a module without waiting for the transition its
// init starts (the selftests' load_lp_nowait).
func (s *sys) insmodNoWait(name string) error {
	return s.step("insmod "+name+".ko", func() error {
		_, err := s.k.LoadModule(s.k.Build.Modules[name])
		return err
	})
}

// TestCallbacks mirrors test-callbacks.sh, case by case.
func TestCallbacks(t *testing.T) {
	const demo, mod, busy = "test_klp_callbacks_demo", "test_klp_callbacks_mod", "test_klp_callbacks_busy"
	patchedMod := func(t *testing.T, s *sys, want bool) {
		t.Helper()
		if got := strings.Contains(s.procQuiet("callbacks_mod"), "patched"); got != want {
			t.Errorf("callbacks_mod patched = %v, want %v", got, want)
		}
	}
	cases := []selftestCase{
		{"target module before livepatch", func(t *testing.T, s *sys) {
			s.insmod(mod)
			s.insmod(demo)
			patchedMod(t, s, true)
			s.disable(demo)
			s.rmmod(demo)
			s.rmmod(mod)
		}},
		{"module_coming notifier", func(t *testing.T, s *sys) {
			s.insmod(demo)
			s.insmod(mod)
			patchedMod(t, s, true)
			s.disable(demo)
			s.rmmod(demo)
			s.rmmod(mod)
		}},
		{"module_going notifier", func(t *testing.T, s *sys) {
			s.insmod(mod)
			s.insmod(demo)
			s.rmmod(mod)
			s.disable(demo)
			s.rmmod(demo)
		}},
		{"module_coming and module_going notifiers", func(t *testing.T, s *sys) {
			s.insmod(demo)
			s.insmod(mod)
			patchedMod(t, s, true)
			s.rmmod(mod)
			s.disable(demo)
			s.rmmod(demo)
		}},
		{"target module not present", func(t *testing.T, s *sys) {
			s.insmod(demo)
			s.disable(demo)
			s.rmmod(demo)
		}},
		{"pre-patch callback -ENODEV", func(t *testing.T, s *sys) {
			s.insmod(mod)
			if err := s.insmod("test_klp_callbacks_demo_fail"); err == nil {
				t.Error("patch with a failing pre-patch callback loaded")
			}
			patchedMod(t, s, false)
			s.rmmod(mod)
		}},
		{"module_coming + pre-patch callback -ENODEV", func(t *testing.T, s *sys) {
			s.insmod("test_klp_callbacks_demo_modfail")
			if err := s.insmod(mod); err == nil {
				t.Error("module loaded though the pre-patch callback failed")
			}
			s.disable("test_klp_callbacks_demo_modfail")
			s.rmmod("test_klp_callbacks_demo_modfail")
		}},
		{"multiple target modules", func(t *testing.T, s *sys) {
			s.insmod(busy)
			s.insmod(demo)
			s.insmod(mod)
			s.rmmod(mod)
			s.disable(demo)
			s.rmmod(demo)
			s.rmmod(busy)
		}},
		{"busy target module", func(t *testing.T, s *sys) {
			s.insmod(busy + "_block")
			s.insmodNoWait(demo)
			// The transition waits for the busy module's function.
			s.k.M.RunFor(5_000_000)
			if s.c.InTransition() == nil {
				t.Fatal("transition did not wait for the busy module")
			}
			s.insmodNoWait(mod)
			if s.c.InTransition() == nil {
				t.Error("transition completed while the busy module's function runs")
			}
			s.rmmod(mod)
			s.disable(demo)
			if r := lastReport(s.c, "patching"); !r.Reversed {
				t.Errorf("patching transition not reversed: %v", r)
			}
			s.rmmod(demo)
			s.rmmod(busy + "_block")
		}},
		{"multiple livepatches", func(t *testing.T, s *sys) {
			s.insmod(demo)
			s.insmod("test_klp_callbacks_demo2")
			s.disable("test_klp_callbacks_demo2")
			s.disable(demo)
			s.rmmod("test_klp_callbacks_demo2")
			s.rmmod(demo)
		}},
		{"atomic replace", func(t *testing.T, s *sys) {
			s.insmod(demo)
			s.insmod("test_klp_callbacks_demo2_replace")
			s.disable("test_klp_callbacks_demo2_replace")
			s.rmmod("test_klp_callbacks_demo2_replace")
			s.rmmod(demo)
		}},
	}
	testutil.Golden(t, "testdata/callbacks.golden", runCases(t, 2, cases))
}

// TestShadowVars mirrors test-shadow-vars.sh "basic shadow variable API"
// (the module prints pointers as PTRn, as Linux's transcript masks them),
// then a duplicate allocation and a failing constructor.
func TestShadowVars(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 1})
	s.insmod("test_klp_shadow_vars")
	s.rmmod("test_klp_shadow_vars")
	out := s.log.String()
	for _, want := range []string{"klp_shadow_get(obj=PTR1, id=0x1234) = PTR0", "got expected NULL result",
		"klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3",
		"got expected PTR3 -> PTR2 result", "shadow_dtor(obj=PTR1, shadow_data=PTR3)",
		"klp_shadow_free_all(id=0x1235, dtor=PTR0)", "Duplicate shadow variable", "Failed to construct shadow variable"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "unexpected") {
		t.Errorf("unexpected result in\n%s", out)
	}
	testutil.Golden(t, "testdata/shadow.golden", out)
}

// TestSystemStates mirrors test-state.sh, case by case: a state set up
// and restored; taken over by a replacing patch of a newer version; two
// patches of the same version replacing each other; an older version
// refused. Beyond Linux's cases: a replacing patch without the state is
// refused too.
func TestSystemStates(t *testing.T) {
	const st, st2, st3 = "test_klp_state", "test_klp_state2", "test_klp_state3"
	cases := []selftestCase{
		{"system state modification", func(t *testing.T, s *sys) {
			s.insmod(st)
			s.disable(st)
			s.rmmod(st)
		}},
		{"taking over system state modification", func(t *testing.T, s *sys) {
			s.insmod(st)
			s.insmod(st2)
			s.rmmod(st)
			s.disable(st2)
			s.rmmod(st2)
		}},
		{"compatible cumulative livepatches", func(t *testing.T, s *sys) {
			s.insmod(st2)
			s.insmod(st3)
			s.rmmod(st2)
			s.insmod(st2)
			s.disable(st2)
			s.rmmod(st2)
			s.rmmod(st3)
		}},
		{"incompatible cumulative livepatches", func(t *testing.T, s *sys) {
			s.insmod(st2)
			if err := s.insmod(st); err == nil {
				t.Error("older state version accepted")
			}
			s.disable(st2)
			s.rmmod(st2)
		}},
		{"replacing patch without the state", func(t *testing.T, s *sys) {
			s.insmod(st)
			if err := s.insmod("test_klp_state_nostate_replace"); err == nil {
				t.Error("replacing patch without the state accepted")
			}
			s.disable(st)
			s.rmmod(st)
		}},
	}
	out := runCases(t, 1, cases)
	for _, want := range []string{"allocating space to store the setting", "space to store the setting already allocated",
		"fixing the setting (1 -> 7)", "taking over the setting change (value 7)", "restoring the setting (7 -> 1)",
		"freeing space for the stored setting", "not compatible with the already installed livepatches"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	testutil.Golden(t, "testdata/states.golden", out)
}

// selftestCase is one case of a Linux selftest script.
type selftestCase struct {
	name string
	run  func(t *testing.T, s *sys)
}

// runCases runs each case on a freshly booted system with cpus CPUs and
// returns their transcripts, each under a "### name" line. A case that
// leaves a patch, a transition, an ftrace hook or a loaded module behind
// fails the test.
func runCases(t *testing.T, cpus int, cases []selftestCase) string {
	var all strings.Builder
	for _, tc := range cases {
		s := bootSys(t, boot.Options{CPUs: cpus})
		s.log.WriteString("### " + tc.name + "\n")
		tc.run(t, s)
		if s.c.InTransition() != nil || len(s.c.Patches()) != 0 || len(s.k.Ftrace.Hooked()) != 0 || len(s.k.Loader.Modules()) != 0 {
			t.Errorf("%s: left a patch, a transition, a hook or a module behind", tc.name)
		}
		all.WriteString(s.log.String())
	}
	return all.String()
}
