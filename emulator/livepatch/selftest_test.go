package livepatch_test

import (
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

const patchedLine = "this has been live patched"

// checkUnpatched reads /proc/cmdline (logged) and checks that no patch
// and no ftrace hook is left.
func (s *sys) checkUnpatched() {
	s.t.Helper()
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); strings.Contains(got, patchedLine) {
		s.t.Errorf("still patched: %q", got)
	}
	if n := len(s.k.Ftrace.Hooked()); n != 0 {
		s.t.Errorf("%d ftrace sites still hooked", n)
	}
}

// TestBasic mirrors test-livepatch.sh "basic function patching": load,
// see the change, disable, unload, see it gone; and with each model.
func TestBasic(t *testing.T) {
	for _, mod := range []string{"test_klp_livepatch", "test_klp_livepatch_stop", "test_klp_livepatch_refcount", "test_klp_livepatch_immediate"} {
		t.Run(mod, func(t *testing.T) {
			s := bootSys(t, boot.Options{CPUs: 2})
			if err := s.insmod(mod); err != nil {
				t.Fatal(err)
			}
			if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.Contains(got, patchedLine) {
				t.Errorf("not patched: %q", got)
			}
			s.disable(mod)
			s.rmmod(mod)
			s.checkUnpatched()
			testutil.Golden(t, "testdata/basic-"+mod+".golden", s.log.String())
		})
	}
}

// grepPatched is the selftests' grep 'live patched' /proc/cmdline and
// /proc/meminfo (into the kernel log): the lines of both texts that say a
// patch is active, logged and returned.
func (s *sys) grepPatched() []string {
	s.t.Helper()
	var out []string
	for _, nr := range []uint64{workload.SysCmdline, workload.SysMeminfo} {
		for _, l := range strings.SplitAfter(s.text(nr), "\n") {
			if strings.Contains(l, "live patched") {
				out = append(out, strings.TrimSuffix(l, "\n"))
				s.log.WriteString(l)
			}
		}
	}
	return out
}

// TestMultiplePatches mirrors test-livepatch.sh "multiple livepatches":
// a patch of cmdline_proc_show, then one of meminfo_proc_show
// (test_klp_atomic_replace with replace=0): both are active; disabling
// and unloading the second leaves the first active; then none is.
func TestMultiplePatches(t *testing.T) {
	const lp, lp2 = "test_klp_livepatch", "test_klp_atomic_replace"
	s := bootSys(t, boot.Options{CPUs: 2})
	want := func(lines ...string) {
		t.Helper()
		if got := s.grepPatched(); strings.Join(got, "|") != strings.Join(lines, "|") {
			t.Errorf("active patches say %q, want %q", got, lines)
		}
	}
	s.insmod(lp)
	want(lp + ": this has been live patched")
	s.insmod(lp2)
	want(lp+": this has been live patched", lp2+": this has been live patched")
	s.disable(lp2)
	s.rmmod(lp2)
	want(lp + ": this has been live patched")
	s.disable(lp)
	s.rmmod(lp)
	want()
	s.checkUnpatched()
	testutil.Golden(t, "testdata/multiple.golden", s.log.String())
}

// TestStackedPatches goes beyond Linux's cases: two patches stack on one
// function, the newest wins; disabling it brings the older back. Then, as
// in Linux since 5.1, the older of two stacked patches is disabled first:
// the newest stays in effect.
func TestStackedPatches(t *testing.T) {
	const lp, lp2 = "test_klp_livepatch", "test_klp_livepatch2"
	s := bootSys(t, boot.Options{CPUs: 2})
	s.insmod(lp)
	s.cat(workload.SysCmdline, "/proc/cmdline")
	s.insmod(lp2)
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.HasPrefix(got, lp2+":") {
		t.Errorf("newest patch does not win: %q", got)
	}
	s.disable(lp2)
	s.rmmod(lp2)
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.HasPrefix(got, lp+":") {
		t.Errorf("older patch not back: %q", got)
	}
	if err := s.rmmod(lp); err == nil {
		t.Error("unloading an enabled patch module succeeded")
	}
	s.disable(lp)
	s.rmmod(lp)
	s.cat(workload.SysCmdline, "/proc/cmdline")

	s.log.WriteString("### the older patch disabled first\n")
	s.insmod(lp)
	s.insmod(lp2)
	if err := s.disable(lp); err != nil {
		t.Errorf("disabling the older of two stacked patches: %v", err)
	}
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.HasPrefix(got, lp2+":") {
		t.Errorf("newest patch not in effect after the older was disabled: %q", got)
	}
	s.rmmod(lp)
	s.disable(lp2)
	s.rmmod(lp2)
	s.checkUnpatched()
	testutil.Golden(t, "testdata/stacked.golden", s.log.String())
}

// TestAtomicReplace mirrors "atomic replace livepatch": a replacing patch
// disables the older ones at the end of its transition.
func TestAtomicReplace(t *testing.T) {
	s := bootSys(t, boot.Options{CPUs: 2})
	s.insmod("test_klp_livepatch2")
	s.insmod("lp_sleep_immediate")
	s.insmod("test_klp_livepatch_replace")
	for _, n := range []string{"test_klp_livepatch2", "lp_sleep_immediate"} {
		if p := s.c.Patch(n); p == nil || p.Enabled {
			t.Errorf("%s still enabled after the replace", n)
		}
	}
	if got := s.cat(workload.SysCmdline, "/proc/cmdline"); !strings.HasPrefix(got, "test_klp_livepatch_replace:") {
		t.Errorf("replacement not active: %q", got)
	}
	// Only the replacing patch is left in /sys/kernel/livepatch.
	var dirs []string
	for _, e := range s.c.Sysfs() {
		if !strings.Contains(e.Path, "/") {
			dirs = append(dirs, e.Path)
		}
	}
	if len(dirs) != 1 || dirs[0] != "test_klp_livepatch_replace" {
		t.Errorf("/sys/kernel/livepatch after the replace: %v", dirs)
	}
	s.rmmod("test_klp_livepatch2")
	s.rmmod("lp_sleep_immediate")
	if n := len(s.k.Ftrace.Hooked()); n != 1 {
		t.Errorf("%d hooked sites after the replace, want 1 (cmdline_proc_show)", n)
	}
	s.disable("test_klp_livepatch_replace")
	s.rmmod("test_klp_livepatch_replace")
	s.cat(workload.SysCmdline, "/proc/cmdline")
	testutil.Golden(t, "testdata/replace.golden", s.log.String())
}
