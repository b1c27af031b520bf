package machine_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/targettest"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

const efault = -14

// sourceLine finds the line of file (in the build tree) containing s.
func sourceLine(t *testing.T, k *boot.Kernel, file, s string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(k.Build.Dir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), s) {
			return n
		}
	}
	t.Fatalf("%s: no line with %q", file, s)
	return 0
}

func TestWarnPrintsFileAndLine(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 1})
	m := k.M
	start := m.ConsoleLen()
	// kfree() of a pointer outside the kmalloc arena: WARN(...) in mm/slab.c.
	bad := k.Symbols["linux_banner"] + 16
	if _, err := m.CallKernel("warner", k.Symbols["kfree"], bad, 10_000_000); err != nil {
		t.Fatal(err)
	}
	out := m.ConsoleSince(start)
	line := sourceLine(t, k, "mm/slab.c", "if (WARN(")
	want := fmt.Sprintf("WARNING: CPU: ")
	re := regexp.MustCompile(`WARNING: CPU: \d+ PID: \d+ at mm/slab.c:(\d+) kfree\+0x[0-9a-f]+/0x[0-9a-f]+`)
	mt := re.FindStringSubmatch(out)
	if mt == nil {
		t.Fatalf("no %q report in:\n%s", want, out)
	}
	// The WARN() macro spans two lines; the line recorded is the one
	// __LINE__ gives, that of its last line at the latest.
	if got, _ := strconv.Atoi(mt[1]); got < line || got > line+1 {
		t.Errorf("WARNING at line %d, want %d", got, line)
	}
	for _, w := range []string{"kfree: bad pointer", "Call Trace:", "ret_from_fork+0x"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if m.Warnings() != 1 || m.Oopses() != 0 {
		t.Errorf("warnings %d oopses %d, want 1 and 0", m.Warnings(), m.Oopses())
	}
	// The task went on after the ud2 and returned normally.
	if err := m.RunFor(10_000_000); err != nil {
		t.Fatal(err)
	}
}

func TestBugKillsTaskMachineGoesOn(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 1})
	m := k.M
	if _, err := k.LoadModule(k.Build.Modules["bugmod"]); err != nil {
		t.Fatal(err)
	}
	fn, err := m.Syms.Find("bugmod", "bugmod_trigger", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := m.CallKernel("ok", fn.Addr, 1, 10_000_000); err != nil || int32(r) != 2 {
		t.Fatalf("bugmod_trigger(1) = %d, %v", r, err)
	}
	start := m.ConsoleLen()
	if _, err := m.CallKernel("warn", fn.Addr, 7, 10_000_000); err != nil {
		t.Fatal(err)
	}
	wline := sourceLine(t, k, "modules/bugmod/bugmod.c", "\tWARN_ON(n == 7);")
	if out := m.ConsoleSince(start); !strings.Contains(out, fmt.Sprintf("at modules/bugmod/bugmod.c:%d bugmod_trigger+0x", wline)) {
		t.Errorf("no WARNING for line %d:\n%s", wline, out)
	}
	start = m.ConsoleLen()
	_, err = m.CallKernel("crasher", fn.Addr, 42, 10_000_000)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("BUG: err = %v, want the task killed", err)
	}
	out := m.ConsoleSince(start)
	bline := sourceLine(t, k, "modules/bugmod/bugmod.c", "\tBUG_ON(n == 42);")
	for _, w := range []string{
		fmt.Sprintf("kernel BUG at modules/bugmod/bugmod.c:%d!", bline),
		"invalid opcode: 0000 [#1] SMP",
		"RIP: 0010:bugmod_trigger+0x",
		"[bugmod]",
		"ret_from_fork+0x",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("oops lacks %q:\n%s", w, out)
		}
	}
	// The machine goes on: a user process still gets answers.
	var pid int64
	task := targettest.RunScript(t, k, "after", func(u *machine.User) { pid = u.Syscall(workload.SysGetpid) })
	if pid != int64(task.PID) {
		t.Errorf("getpid after the oops = %d, want %d", pid, task.PID)
	}
}

func TestUserCopyFaultIsEFAULT(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 1, Seed: 1})
	var bad, incrBad, good, incr int64
	var val []byte
	targettest.RunScript(t, k, "copier", func(u *machine.User) {
		// 0x1000 is a user address (below TASK_SIZE_MAX) that is not mapped.
		bad = u.Syscall(workload.SysReadUser, 0x1000, 16)
		incrBad = u.Syscall(workload.SysIncrUser, 0x2000)
		good = u.Syscall(workload.SysReadUser, u.CString("hello"), 5)
		p := u.Alloc(4)
		u.Write(p, []byte{41, 0, 0, 0})
		incr = u.Syscall(workload.SysIncrUser, p)
		val = u.Read(p, 4)
	})
	if bad != efault || incrBad != efault {
		t.Errorf("read_user/incr_user of an unmapped address = %d/%d, want %d", bad, incrBad, efault)
	}
	if good != 5 || incr != 42 || val[0] != 42 {
		t.Errorf("good copies: %d %d %v", good, incr, val)
	}
	if !strings.Contains(k.M.Console(), `read_user: pid 5: "hello"`) && !strings.Contains(k.M.Console(), `"hello"`) {
		t.Errorf("console lacks the copied message:\n%s", k.M.Console())
	}
	if k.M.Oopses() != 0 {
		t.Errorf("%d oopses", k.M.Oopses())
	}
	// The faults went through __ex_table: the faulting instructions have
	// entries, and without the table they would oops.
	if _, ok := k.M.FindFixup(k.Symbols["raw_copy_from_user"]); ok {
		t.Error("function entry unexpectedly has a fixup")
	}
}

func TestStaticKeyFlip(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 1, Seed: 1})
	m := k.M
	key := k.Symbols["verbose_key"]
	var site machine.JumpEntry
	for _, j := range m.JumpEntries("vmlinux") {
		if j.Key == key {
			site = j
		}
	}
	if site.Code == 0 {
		t.Fatal("no jump table entry for verbose_key")
	}
	code := func() []byte { b := make([]byte, 5); m.Mem.Peek(site.Code, b); return b }
	if string(code()) != string(machine.Nop5[:]) {
		t.Fatalf("verbose_key site starts as % x, want the NOP", code())
	}
	start := m.ConsoleLen()
	var was0, was1 int64
	targettest.RunScript(t, k, "flipper", func(u *machine.User) {
		u.Syscall(workload.SysGetpid) // quiet
		was0 = u.Syscall(workload.SysVerbose, 1)
		u.Syscall(workload.SysGetpid) // logged
		was1 = u.Syscall(workload.SysVerbose, 0)
		u.Syscall(workload.SysGetpid) // quiet again
	})
	out := m.ConsoleSince(start)
	logged := regexp.MustCompile(`syscall 10\(`).FindAllString(out, -1)
	if was0 != 0 || was1 != 1 || len(logged) != 1 {
		t.Errorf("verbose returned %d then %d; %d getpid calls logged, want 1:\n%s", was0, was1, len(logged), out)
	}
	// The call that enabled the key is logged (the branch is taken on
	// its way out); the one that disabled it is not.
	if !strings.Contains(out, "syscall 9(1, ") || strings.Contains(out, "syscall 9(0, ") {
		t.Errorf("wrong verbose calls logged:\n%s", out)
	}
	if string(code()) != string(machine.Nop5[:]) {
		t.Errorf("site after disabling: % x", code())
	}
	// Enabled, the site is a jmp to the logging branch.
	if err := m.Mem.Write32(key, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := m.JumpLabelUpdate(key); err != nil || n != 1 {
		t.Fatalf("JumpLabelUpdate = %d, %v", n, err)
	}
	if c := code(); c[0] != 0xe9 || site.Code+5+uint64(int64(int32(uint32(c[1])|uint32(c[2])<<8|uint32(c[3])<<16|uint32(c[4])<<24))) != site.Target {
		t.Errorf("enabled site % x is not a jmp to %#x", c, site.Target)
	}
}

func TestAlternativeFromCPUID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cpuid boot.Options
		want  string
		flags string
	}{
		{"generic", boot.Options{CPUs: 1}, "alternative\t: generic", "flags\t\t: hypervisor"},
		{"popcnt", boot.Options{CPUs: 1, CPUID: boot.WithFeatures(boot.FeaturePOPCNT, boot.FeatureXMM4_2)}, "alternative\t: popcnt", "flags\t\t: sse4_2 popcnt hypervisor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.cpuid
			base := opts.CPUID
			// Both settings run "on a hypervisor".
			opts.CPUID = func(l, s uint32) (a, b, c, d uint32) {
				if base != nil {
					a, b, c, d = base(l, s)
				} else {
					a, b, c, d = boot.WithFeatures()(l, s)
				}
				if l == 1 {
					c |= 1 << 31
				}
				return
			}
			k := targettest.Boot(t, opts)
			var text string
			targettest.RunScript(t, k, "cpuinfo", func(u *machine.User) { text, _ = workload.ReadText(u, workload.SysCpuinfo) })
			if !strings.Contains(text, tc.want) || !strings.Contains(text, tc.flags+"\n") {
				t.Errorf("cpuinfo:\n%s\nwant %q and %q", text, tc.want, tc.flags)
			}
			wantApplied := 0
			if tc.name == "popcnt" {
				wantApplied = 1
			}
			if k.AltApplied != wantApplied {
				t.Errorf("%d alternatives applied, want %d", k.AltApplied, wantApplied)
			}
		})
	}
}

func TestPerCPUCounters(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 4, Seed: 5, OnBootDone: func(k *boot.Kernel) {
		workload.Start(k.M, "busy")
	}})
	if err := k.M.RunFor(50_000_000); err != nil {
		t.Fatal(err)
	}
	var text string
	targettest.RunScript(t, k, "stat", func(u *machine.User) { text, _ = workload.ReadText(u, workload.SysStat) })
	re := regexp.MustCompile(`(?m)^cpu(\d) syscalls (\d+) idle (\d+)$`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) != 4 {
		t.Fatalf("stat:\n%s", text)
	}
	var sum uint64
	seen := map[string]bool{}
	off := k.Symbols["syscall_count"]
	for i, r := range rows {
		n, _ := strconv.ParseUint(r[2], 10, 64)
		sum += n
		seen[r[2]] = true
		// The kernel's view matches the CPU's per-CPU area (%gs base).
		v, err := k.M.Mem.Read64(k.M.CPUs()[i].PerCPU + off)
		if err != nil {
			t.Fatal(err)
		}
		if v < n {
			t.Errorf("cpu%d: per-CPU area says %d, stat said %d", i, v, n)
		}
		if n == 0 {
			t.Errorf("cpu%d made no system calls", i)
		}
	}
	if len(seen) < 2 {
		t.Errorf("every CPU has the same count: %v", rows)
	}
	total := regexp.MustCompile(`(?m)^syscalls (\d+)$`).FindStringSubmatch(text)
	if total == nil || total[1] != strconv.FormatUint(sum, 10) {
		t.Errorf("total %v, sum of CPUs %d:\n%s", total, sum, text)
	}
}

// TestSmallQuantum: every quantum from MinQuantum up runs (a slice of 0
// instructions once made the scheduler spin forever), and a smaller one
// is refused.
func TestSmallQuantum(t *testing.T) {
	if _, err := machine.New(machine.Config{Quantum: machine.MinQuantum - 1}); err == nil || !strings.Contains(err.Error(), "quantum 9: must be at least 10") {
		t.Errorf("quantum %d: error %v", machine.MinQuantum-1, err)
	}
	for _, q := range []uint64{machine.MinQuantum, machine.MinQuantum + 1, 777} {
		done := make(chan error, 1)
		var k *boot.Kernel
		go func() {
			k = targettest.Boot(t, boot.Options{CPUs: 2, Seed: 5, Quantum: q, OnBootDone: func(k *boot.Kernel) {
				workload.Start(k.M, "mixed")
			}})
			done <- k.M.RunFor(5_000_000)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("quantum %d: %v", q, err)
			}
			if k.M.Now() < 5_000_000 {
				t.Errorf("quantum %d: virtual time %d after running 5ms", q, k.M.Now())
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("quantum %d: 5ms of virtual time did not pass in 2 minutes", q)
		}
	}
}
