package guest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// judgePlan is a plan for consoles written by hand, with the checks
// given or one: cat /proc/x, old without the patch and new with it.
func judgePlan(checks ...Check) *verifyPlan {
	if len(checks) == 0 {
		checks = []Check{{Command: "cat /proc/x", Unpatched: "^old$", Patched: "^new$"}}
	}
	p := &verifyPlan{release: "6.1.0-test", patch: "lp", marker: "@@M@@", numCheck: len(checks), checks: checks}
	for _, c := range checks {
		p.unpatch = append(p.unpatch, compiled(c.Unpatched))
		p.patched = append(p.patched, compiled(c.Patched))
	}
	return p
}

// compiled compiles a test's regexp; empty is none.
func compiled(re string) *regexp.Regexp {
	if re == "" {
		return nil
	}
	return regexp.MustCompile(re)
}

// checkLines is the console of check 1 in a phase.
func checkLines(phase, out string, rc int) string {
	return checkLinesN(phase, 1, out, rc)
}

// checkLinesN is the console of check n in a phase.
func checkLinesN(phase string, n int, out string, rc int) string {
	return fmt.Sprintf("@@M@@ check-begin %s %d\n%s\n@@M@@ check-end %s %d %d\n", phase, n, out, phase, n, rc)
}

// TestJudgeConsoles reads consoles written by hand: the guest's markers
// with what a good run, a stuck transition, a kernel warning and a guest
// that died would print. The summaries are golden.
func TestJudgeConsoles(t *testing.T) {
	start := "@@M@@ phase unpatched\n" + checkLines("unpatched", "old", 0) +
		"@@M@@ insmod lp 0\n"
	loaded := start + "@@M@@ transition lp done\n@@M@@ enabled lp 1\n@@M@@ tainted 45056\n"
	end := "@@M@@ disable lp 0\n@@M@@ transition lp done\n@@M@@ rmmod lp 0\n@@M@@ phase unpatched-again\n" +
		checkLines("unpatched-again", "old", 0) + "@@M@@ done\n"
	cases := map[string]struct {
		console string
		ok      bool
	}{
		"good": {loaded + "@@M@@ phase patched\n" + checkLines("patched", "new", 0) + end, true},
		// A check printing kernel-log words is output, not a kernel problem.
		"check-output-looks-like-oops": {loaded + "@@M@@ phase patched\n" +
			checkLines("patched", "new\nBUG: this is only text", 1) + end, false},
		"stuck": {start + "@@M@@ transition lp stuck\n@@M@@ dmesg-begin end\n@@M@@ dmesg-end end\n@@M@@ done\n", false},
		"warning": {loaded + "@@M@@ phase patched\n" + checkLines("patched", "new", 0) +
			"@@M@@ dmesg-begin patched\n[   3.1] WARNING: CPU: 0 PID: 1 at kernel/livepatch/x.c:1 f+0x1/0x2\n[   3.1] Call Trace:\n@@M@@ dmesg-end patched\n" + end, false},
		// A BUG is printed on the console and is in dmesg again; a
		// warning repeats: each is one problem, listed once.
		"repeated": {"[   2.5] BUG: unable to handle page fault for address: 0000000000000008\n" + loaded +
			"@@M@@ phase patched\n" + checkLines("patched", "new", 0) + "@@M@@ dmesg-begin patched\n" +
			"[   2.5] BUG: unable to handle page fault for address: 0000000000000008\n[   2.6] Call Trace:\n" +
			"[   3.1] WARNING: CPU: 0 PID: 1 at kernel/livepatch/x.c:1 f+0x1/0x2\n[   3.1] Call Trace:\n" +
			"[   3.2] WARNING: CPU: 0 PID: 1 at kernel/livepatch/x.c:1 f+0x1/0x2\n[   3.2] Call Trace:\n" +
			"@@M@@ dmesg-end patched\n" + end, false},
		// 6.12's module annotations: each complaint alone fails.
		"unpatched-return-thunk": {loaded + "@@M@@ phase patched\n" + checkLines("patched", "new", 0) +
			"@@M@@ dmesg-begin patched\n[   3.1] Unpatched return thunk in use. This should not happen!\n@@M@@ dmesg-end patched\n" + end, false},
		"missing-endbr": {loaded + "@@M@@ phase patched\n" + checkLines("patched", "new", 0) +
			"@@M@@ dmesg-begin patched\n[   3.1] Missing ENDBR: cmdline_proc_show+0x0/0x60 [livepatch_x]\n@@M@@ dmesg-end patched\n" + end, false},
		"call-thunk-padding": {loaded + "@@M@@ phase patched\n" + checkLines("patched", "new", 0) +
			"@@M@@ dmesg-begin patched\n[   3.1] Invalid padding area for cmdline_proc_show+0x0/0x60\n@@M@@ dmesg-end patched\n" + end, false},
		"died-in-check": {loaded + "@@M@@ phase patched\n@@M@@ check-begin patched 1\nnew\n[    4.0] Kernel panic - not syncing: test\n", false},
		"never-started": {"SeaBIOS\n[    0.5] Kernel panic - not syncing: VFS: Unable to mount root fs\n", false},
		"disabled":      {start + "@@M@@ transition lp done\n@@M@@ enabled lp 0\n" + end, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			vd := judgePlan().judge(c.console)
			if (len(vd.problems) == 0) != c.ok {
				t.Errorf("problems = %q, want ok=%v", vd.problems, c.ok)
			}
			if vd.indistinct != "" {
				t.Errorf("indistinct with a check that tells the patch apart: %s", vd.indistinct)
			}
			testutil.Golden(t, filepath.Join("testdata", "judge", name+".golden"), vd.summary)
		})
	}
}

// TestErrorShowsConsoleTail keeps the message to the console's tail.
func TestErrorShowsConsoleTail(t *testing.T) {
	var lines []string
	for i := 1; i <= 100; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	msg := (&Error{Problems: []string{"a", "b"}, Console: strings.Join(lines, "\n") + "\n"}).Error()
	if !strings.HasPrefix(msg, "guest: 2 problems:\n  - a\n  - b\n") || strings.Contains(msg, "line 40\n") ||
		!strings.Contains(msg, "\nline 41\n") || !strings.Contains(msg, "line 100\n--- end of console ---") {
		t.Errorf("message:\n%s", msg)
	}
}

// TestCleanConsole drops what would drive the reader's terminal.
func TestCleanConsole(t *testing.T) {
	got := cleanConsole("\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\nline\x1b[0m two\r\n")
	if got != "SeaBIOS\nline two\n" {
		t.Errorf("cleanConsole = %q", got)
	}
}

// TestKernelRelease reads the release from the installed bzImage and
// refuses other files.
func TestKernelRelease(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "vmlinuz")
	os.WriteFile(bad, make([]byte, 4096), 0o644)
	if _, err := KernelRelease(bad); err == nil || !strings.Contains(err.Error(), "not an x86 bzImage") {
		t.Errorf("zeros: err = %v", err)
	}
	img := "/boot/vmlinuz-" + testRelease(t)
	if _, err := os.Stat(img); err != nil {
		absent(t, img+" missing (run tools/realkernel-setup.sh)")
	}
	got, err := KernelRelease(img)
	if err != nil || got != testRelease(t) {
		t.Errorf("KernelRelease = %q, %v; want %q", got, err, testRelease(t))
	}
}

// TestPlanVerifyRefuses checks the module and the checks before booting.
func TestPlanVerifyRefuses(t *testing.T) {
	o, err := needKernel(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	lp := testPatch(t, "guest_lp_cmdline")
	loop := filepath.Join(o.ModulesDir, "kernel/drivers/block/loop.ko")
	other := o
	other.Release = "6.1.0-99-test"
	if _, err := other.withDefaults(); err == nil || !strings.Contains(err.Error(), "is release "+testRelease(t)+", not 6.1.0-99-test") {
		t.Errorf("release mismatch: err = %v", err)
	}
	cases := []struct {
		o    Options
		v    Verify
		want string
	}{
		{o, Verify{}, "no patch module given"},
		{o, Verify{Module: loop}, "not a livepatch module"},
		{other, Verify{Module: lp}, `does not match kernel 6.1.0-99-test`},
		{o, Verify{Module: lp, Checks: []Check{{Command: "true", Patched: "("}}}, "check 1: Patched regexp"},
		{o, Verify{Module: lp, LateLoad: true}, "late load needs the target modules"},
		{o, Verify{Module: lp, Preload: []string{"no_such_module"}}, `module "no_such_module": not in`},
	}
	// A name the guest shell would split: same length, so the ELF stays valid.
	b, err := os.ReadFile(lp)
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "odd.ko")
	os.WriteFile(odd, bytes.Replace(b, []byte("name=guest_lp_cmdline\x00"), []byte("name=guest;lp cmdline\x00"), 1), 0o644)
	cases = append(cases, struct {
		o    Options
		v    Verify
		want string
	}{o, Verify{Module: odd}, `module name "guest;lp cmdline" is not a kernel module name`})
	for _, c := range cases {
		if _, err := planVerify(c.o, c.v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.v, err, c.want)
		}
	}
}

// TestRunTimeoutKillsQemu expects a guest that never finishes to be
// killed at the timeout, with the console in the error.
func TestRunTimeoutKillsQemu(t *testing.T) {
	o := needKernel(t)
	o.Timeout = 4 * time.Second
	start := time.Now()
	_, err := Run(context.Background(), o, "sleep 1000\n", nil)
	var ge *Error
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "qemu killed after the 4s timeout") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Run returned after %s, want about 4s", d)
	}
}

// TestJudgeDistinct: the output before the patch must fail the patched
// regexp of at least one check, or the checks cannot tell the patch from
// no patch. Checks meant to stay the same may go beside one that tells;
// a late load, which has no output before the patch, measures nothing.
func TestJudgeDistinct(t *testing.T) {
	same := Check{Command: "uname -r", Unpatched: `^6\.1`, Patched: `^6\.1`, Source: "x.expect:3"}
	loose := Check{Command: "cat /proc/x", Unpatched: `^(old|new)$`, Patched: `^(new|old)$`, Source: "x.expect:6"}
	tells := Check{Command: "cat /proc/y", Unpatched: `^old$`, Patched: `^new$`, Source: "x.expect:9"}
	onlyPatched := Check{Command: "cat /proc/z", Patched: `z`, Source: "x.expect:12"}
	// console is a good run of the checks: outputs[phase][i] is check
	// i+1's output.
	console := func(outputs map[string][]string) string {
		var b strings.Builder
		phase := func(name string) {
			b.WriteString("@@M@@ phase " + name + "\n")
			for i, out := range outputs[name] {
				b.WriteString(checkLinesN(name, i+1, out, 0))
			}
		}
		phase("unpatched")
		b.WriteString("@@M@@ insmod lp 0\n@@M@@ transition lp done\n@@M@@ enabled lp 1\n")
		phase("patched")
		b.WriteString("@@M@@ disable lp 0\n@@M@@ transition lp done\n@@M@@ rmmod lp 0\n")
		phase("unpatched-again")
		b.WriteString("@@M@@ done\n")
		return b.String()
	}
	cases := []struct {
		name     string
		checks   []Check
		outputs  map[string][]string
		distinct []int
	}{
		{"same-and-loose", []Check{same, loose}, map[string][]string{
			"unpatched":       {"6.1.0-test", "old"},
			"patched":         {"6.1.0-test", "new"},
			"unpatched-again": {"6.1.0-test", "old"},
		}, nil},
		{"only-patched-matches", []Check{onlyPatched}, map[string][]string{
			"unpatched":       {"z was here"},
			"patched":         {"z was here"},
			"unpatched-again": {"z was here"},
		}, nil},
		{"same-beside-one-that-tells", []Check{same, tells}, map[string][]string{
			"unpatched":       {"6.1.0-test", "old"},
			"patched":         {"6.1.0-test", "new"},
			"unpatched-again": {"6.1.0-test", "old"},
		}, []int{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vd := judgePlan(c.checks...).judge(console(c.outputs))
			if !slices.Equal(vd.distinct, c.distinct) {
				t.Errorf("distinct checks %v, want %v", vd.distinct, c.distinct)
			}
			if want := c.distinct == nil; (vd.indistinct != "") != want || (len(vd.problems) == 1) != want {
				t.Errorf("indistinct %q, problems %q; want indistinct %v and it the only problem", vd.indistinct, vd.problems, want)
			}
			testutil.Golden(t, filepath.Join("testdata", "judge", "distinct-"+c.name+".golden"), vd.summary)
		})
	}
	late := judgePlan(same)
	late.late = true
	late.preload = []ModuleFile{{Name: "xfs"}}
	out := console(map[string][]string{"patched": {"6.1.0-test"}, "unpatched-again": {"6.1.0-test"}})
	if vd := late.judge(strings.Replace(out, "@@M@@ phase unpatched\n", "", 1)); len(vd.problems) != 0 || vd.indistinct != "" {
		t.Errorf("late load: problems %q, indistinct %q; want none (nothing to measure)", vd.problems, vd.indistinct)
	}
}
