package livepatch_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// sysctlFtrace sets kernel.ftrace_enabled and logs what sysctl prints.
func (s *sys) sysctlFtrace(on bool) error {
	v := map[bool]int{false: 0, true: 1}[on]
	s.log.WriteString(fmt.Sprintf("%% sysctl kernel.ftrace_enabled=%d\n", v))
	err := s.k.Ftrace.SetEnabled(on)
	s.flush()
	switch {
	case errors.Is(err, ftrace.ErrBusy):
		s.log.WriteString("sysctl: setting key \"kernel.ftrace_enabled\": Device or resource busy\n")
	case err != nil:
		s.log.WriteString("error: " + err.Error() + "\n")
	default:
		s.log.WriteString(fmt.Sprintf("kernel.ftrace_enabled = %d\n", v))
	}
	return err
}

// TestFtraceEnabled mirrors test-ftrace.sh "livepatch interaction with
// ftrace_enabled sysctl": with kernel.ftrace_enabled=0 a patch cannot
// register its ftrace handler (-EBUSY, and the transition is canceled);
// with 1 it loads; while it is enabled ftrace cannot be turned off.
func TestFtraceEnabled(t *testing.T) {
	const lp = "test_klp_livepatch"
	s := bootSys(t, boot.Options{CPUs: 2})
	s.sysctlFtrace(false)
	err := s.insmod(lp)
	if err == nil || !strings.Contains(err.Error(), "returned -16") {
		t.Errorf("patch loaded with ftrace disabled: %v", err)
	}
	if s.k.Loader.Module(lp) != nil || len(s.c.Patches()) != 0 {
		t.Error("the refused patch left its module or patch behind")
	}
	s.sysctlFtrace(true)
	s.insmod(lp)
	if got := s.text(workload.SysCmdline); !strings.Contains(got, patchedLine) {
		t.Errorf("not patched: %q", got)
	}
	if err := s.sysctlFtrace(false); !errors.Is(err, ftrace.ErrBusy) {
		t.Errorf("ftrace disabled under an enabled patch: %v", err)
	}
	if got := s.text(workload.SysCmdline); !strings.Contains(got, patchedLine) {
		t.Errorf("patch not in effect after the refused sysctl: %q", got)
	}
	s.disable(lp)
	s.rmmod(lp)
	if err := s.sysctlFtrace(false); err != nil {
		t.Errorf("ftrace cannot be disabled once the patch is gone: %v", err)
	}
	s.sysctlFtrace(true)
	testutil.Golden(t, "testdata/ftrace-enabled.golden", s.log.String())
}

// TestTraceNewFunction mirrors test-ftrace.sh "trace livepatched function
// and check that the live patch remains in effect": a function tracer on
// the patch's new function sees its calls, and the patch stays in effect.
// (The opposite order, a patch on a traced function, is TestTracerAndPatch.)
func TestTraceNewFunction(t *testing.T) {
	const lp, fn = "test_klp_livepatch", "livepatch_cmdline_proc_show"
	s := bootSys(t, boot.Options{CPUs: 2})
	s.insmod(lp)
	sym, err := s.k.M.Syms.Find(lp, fn, 0)
	if err != nil {
		t.Fatal(err)
	}
	var traced []string
	tracer := &ftrace.Ops{Name: "function-tracer", Func: func(ip, parent uint64, r *ftrace.Regs) {
		traced = append(traced, s.k.M.Syms.Format(ip))
	}}
	s.log.WriteString("% echo " + fn + " > set_ftrace_filter; echo function > current_tracer\n")
	if err := s.k.Ftrace.Register(sym.Addr, tracer); err != nil {
		t.Fatal(err)
	}
	if got := s.text(workload.SysCmdline); strings.Contains(got, patchedLine) {
		s.log.WriteString("livepatch: ok\n")
	} else {
		t.Errorf("patch not in effect under the tracer: %q", got)
	}
	s.log.WriteString("% cat trace\n" + strings.Join(traced, "\n") + "\n")
	if len(traced) != 1 || !strings.HasPrefix(traced[0], fn+"+") {
		t.Errorf("tracer saw %q, want one call of %s", traced, fn)
	}
	if err := s.k.Ftrace.Unregister(sym.Addr, tracer); err != nil {
		t.Fatal(err)
	}
	s.disable(lp)
	s.rmmod(lp)
	testutil.Golden(t, "testdata/trace-new-function.golden", s.log.String())
}

// TestModuleFunction mirrors test-livepatch.sh "module function
// patching", with the target module loaded before the patch and after it
// (klp_module_coming).
func TestModuleFunction(t *testing.T) {
	const target, lp = "test_klp_mod_target", "test_klp_mod_patch"
	const orig, patched = target + ": original output\n", lp + ": this has been live patched\n"
	check := func(s *sys, want string) {
		t.Helper()
		if got := s.procQuiet(target); got != want {
			t.Errorf("/proc/%s = %q, want %q", target, got, want)
		}
	}
	s := bootSys(t, boot.Options{CPUs: 2})
	s.log.WriteString("### module function patching\n")
	s.insmod(target)
	check(s, orig)
	s.insmod(lp)
	check(s, patched)
	s.disable(lp)
	s.rmmod(lp)
	check(s, orig)
	s.rmmod(target)

	s.log.WriteString("### module function patching (livepatch first)\n")
	s.insmod(lp)
	s.insmod(target)
	check(s, patched)
	s.disable(lp)
	s.rmmod(lp)
	check(s, orig)
	s.rmmod(target)
	if n := len(s.k.Ftrace.Hooked()); n != 0 {
		t.Errorf("%d ftrace sites still hooked", n)
	}
	testutil.Golden(t, "testdata/module-function.golden", s.log.String())
}

// sysfsCheck logs and checks one entry's mode and, if value is not "",
// its value (the selftests' check_sysfs_rights and check_sysfs_value).
func (s *sys) sysfsCheck(path, mode, value string) {
	s.t.Helper()
	e, err := s.c.SysfsRead(path)
	if err != nil {
		s.t.Errorf("%v", err)
		s.log.WriteString("error: " + err.Error() + "\n")
		return
	}
	s.log.WriteString(fmt.Sprintf("%% ls -ld /sys/kernel/livepatch/%s\n%s\n", path, e.Mode))
	if e.Mode != mode {
		s.t.Errorf("%s: mode %s, want %s", path, e.Mode, mode)
	}
	if value == "" {
		return
	}
	s.log.WriteString(fmt.Sprintf("%% cat /sys/kernel/livepatch/%s\n%s\n", path, e.Value))
	if e.Value != value {
		s.t.Errorf("%s = %q, want %q", path, e.Value, value)
	}
}

// TestSysfs mirrors test-sysfs.sh: the modes of a patch's entries, an
// object's patched attribute going 0 -> 1 -> 0 as its module comes and
// goes, the replace attribute of a replacing and of a stacking patch.
// Function entries are named NAME,SYMPOS.
func TestSysfs(t *testing.T) {
	const lp = "test_klp_livepatch"
	s := bootSys(t, boot.Options{CPUs: 2})
	s.log.WriteString("### sysfs test\n")
	s.insmod(lp)
	s.sysfsCheck(lp, "drwxr-xr-x", "")
	s.sysfsCheck(lp+"/enabled", "-rw-r--r--", "1")
	s.sysfsCheck(lp+"/force", "--w-------", "")
	s.sysfsCheck(lp+"/replace", "-r--r--r--", "0")
	s.sysfsCheck(lp+"/stack_order", "-r--r--r--", "1")
	s.sysfsCheck(lp+"/transition", "-r--r--r--", "0")
	s.sysfsCheck(lp+"/vmlinux", "drwxr-xr-x", "")
	s.sysfsCheck(lp+"/vmlinux/patched", "-r--r--r--", "1")
	s.sysfsCheck(lp+"/vmlinux/cmdline_proc_show,1", "drwxr-xr-x", "")
	s.disable(lp)
	if _, err := s.c.SysfsRead(lp); err == nil {
		t.Error("a disabled patch is still in /sys/kernel/livepatch")
	}
	s.rmmod(lp)

	const demo, mod = "test_klp_callbacks_demo", "test_klp_callbacks_mod"
	s.log.WriteString("### sysfs test object/patched\n")
	s.insmod(demo)
	s.sysfsCheck(demo+"/"+mod+"/patched", "-r--r--r--", "0")
	s.insmod(mod)
	s.sysfsCheck(demo+"/"+mod+"/patched", "-r--r--r--", "1")
	s.rmmod(mod)
	s.sysfsCheck(demo+"/"+mod+"/patched", "-r--r--r--", "0")
	s.disable(demo)
	s.rmmod(demo)

	s.log.WriteString("### sysfs test replace enabled\n")
	s.insmod(lp + "_replace")
	s.sysfsCheck(lp+"_replace/replace", "-r--r--r--", "1")
	s.disable(lp + "_replace")
	s.rmmod(lp + "_replace")
	s.log.WriteString("### sysfs test replace disabled\n")
	s.insmod(lp)
	s.sysfsCheck(lp+"/replace", "-r--r--r--", "0")
	// Beyond Linux's cases: stack_order counts the stacked patches.
	s.insmod(lp + "2")
	s.sysfsCheck(lp+"2/stack_order", "-r--r--r--", "2")
	s.disable(lp + "2")
	s.rmmod(lp + "2")
	s.disable(lp)
	s.rmmod(lp)
	testutil.Golden(t, "testdata/sysfs.golden", s.log.String())
}

// TestSyscall mirrors test-syscall.sh: one process per CPU calls getpid()
// in a loop while a patch of sys_getpid loads; each process switches to
// the patched state on its own (on its way back to user space) and then
// reaches the new function, which counts it.
func TestSyscall(t *testing.T) {
	const lp, cpus = "test_klp_syscall", 4
	stop := false
	exited := 0
	s := bootSys(t, boot.Options{CPUs: cpus, OnBootDone: func(k *boot.Kernel) {
		for i := 0; i < cpus; i++ {
			k.M.Spawn("klp_getpid", func(u *machine.User) {
				for !stop {
					u.Syscall(workload.SysGetpid)
				}
				exited++
			})
		}
	}})
	s.k.M.RunFor(1 * workload.Millisecond)
	s.flush()
	s.log.Reset() // the rest of the boot
	s.insmod(lp)
	pending := ""
	for i := 0; i < 100 && pending != "0\n"; i++ {
		pending = s.procQuiet(lp)
		s.k.M.RunFor(100_000)
	}
	s.log.WriteString(fmt.Sprintf("%s: Remaining not livepatched processes: %s", lp, pending))
	if pending != "0\n" {
		t.Errorf("processes left unpatched: %q", pending)
	}
	stop = true
	if err := s.k.M.RunUntil(func() bool { return exited == cpus }, s.k.M.Now()+100_000_000); err != nil || exited != cpus {
		t.Fatalf("callers did not exit (%d of %d): %v", exited, cpus, err)
	}
	s.disable(lp)
	s.rmmod(lp)
	r := lastReport(s.c, "patching")
	if !r.Completed {
		t.Errorf("patching transition: %v", r)
	}
	testutil.Golden(t, "testdata/syscall.golden", s.log.String())
}
