package guest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Error is a failed boot or verification. Its message ends with the tail
// of the guest's console, so the reader sees why.
type Error struct {
	// Problems lists what went wrong, one per line.
	Problems []string
	// Console is the whole serial console.
	Console string
	// Indistinct, when one of the problems is that the checks cannot
	// tell the patch from no patch (VerifyPatch), says why.
	Indistinct string
}

// consoleTailLines is how much console an Error's message shows.
const consoleTailLines = 60

// Error returns the problems and the console's tail.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("guest: ")
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0])
	} else {
		fmt.Fprintf(&b, "%d problems:", len(e.Problems))
		for _, p := range e.Problems {
			b.WriteString("\n  - " + p)
		}
	}
	console := strings.TrimRight(e.Console, "\n")
	if console == "" {
		b.WriteString("\n(the guest console is empty)")
		return b.String()
	}
	lines := strings.Split(console, "\n")
	if len(lines) > consoleTailLines {
		lines = lines[len(lines)-consoleTailLines:]
	}
	fmt.Fprintf(&b, "\n--- guest console (last %d lines) ---\n%s\n--- end of console ---", len(lines), strings.Join(lines, "\n"))
	return b.String()
}

// initScript is the guest's /init. It mounts the kernel file systems,
// installs busybox's applets, runs /guest/run.sh with the console as
// its output and powers off. %[1]s is the run's marker.
const initScript = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp
echo "%[1]s booted $(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
sh /guest/run.sh
echo "%[1]s exit $? uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
`

// newMarker returns a line prefix no guest program prints by chance.
func newMarker() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "@@guest-" + hex.EncodeToString(b) + "@@"
}

// Run boots the kernel with an initramfs of busybox, files (path inside
// the guest -> content) and script, a busybox sh script run after /proc,
// /sys, /dev and /tmp are mounted, with the console as its output. It
// returns the console with carriage returns removed. Files are
// executable (mode 0755) and may not replace /init, /bin/busybox or
// /guest/run.sh. The error is an
// *Error carrying the console when qemu fails or times out, the guest
// stops before the script ends, or the script exits non-zero.
func Run(ctx context.Context, o Options, script string, files map[string][]byte) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	return run(ctx, o, script, files)
}

// run is Run with the options already completed.
func run(ctx context.Context, o Options, script string, files map[string][]byte) (string, error) {
	marker := newMarker()
	initrd, err := buildInitramfs(o, marker, script, files)
	if err != nil {
		return "", err
	}
	dir, release, err := makeGuestDir(os.TempDir(), o.Log)
	if err != nil {
		return "", fmt.Errorf("guest: %w", err)
	}
	defer release()
	initrdPath := filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(initrdPath, initrd, 0o644); err != nil {
		return "", fmt.Errorf("guest: %w", err)
	}
	console, problems := boot(ctx, o, initrdPath)
	logUptimes(o, console, marker)
	if len(problems) == 0 {
		problems = scriptProblems(console, marker)
	}
	if len(problems) > 0 {
		return console, &Error{Problems: problems, Console: console}
	}
	return console, nil
}

// logUptimes reports the guest's own clock at /init and at the end of
// the script, which splits a boot's time into kernel start and script.
func logUptimes(o Options, console, marker string) {
	up := regexp.MustCompile(regexp.QuoteMeta(marker)+` (booted|exit) .*uptime=([0-9.]+)`).FindAllStringSubmatch(console, -1)
	if len(up) == 2 {
		o.Log("guest: /init started at %ss of guest uptime, script ended at %ss", up[0][2], up[1][2])
	}
}

// scriptProblems reads the run's exit marker from the console.
func scriptProblems(console, marker string) []string {
	if !strings.Contains(console, marker+" booted") {
		return []string{"the guest's /init never ran (no boot marker on the console)"}
	}
	m := regexp.MustCompile(regexp.QuoteMeta(marker) + ` exit (\d+)`).FindStringSubmatch(console)
	if m == nil {
		return []string{"the guest stopped before its script finished"}
	}
	if rc, _ := strconv.Atoi(m[1]); rc != 0 {
		return []string{fmt.Sprintf("the guest script exited with status %d", rc)}
	}
	return nil
}

// buildInitramfs returns the cpio archive of busybox, /init, the script
// as /guest/run.sh and the caller's files.
func buildInitramfs(o Options, marker, script string, files map[string][]byte) ([]byte, error) {
	bb, err := os.ReadFile(o.Busybox)
	if err != nil {
		return nil, fmt.Errorf("guest: busybox: %w", err)
	}
	var t tree
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "root", "etc"} {
		t.add(CPIOEntry{Name: d, Mode: fs.ModeDir | 0o755})
	}
	t.add(CPIOEntry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1})
	t.add(CPIOEntry{Name: "bin/busybox", Mode: 0o755, Data: bb})
	t.add(CPIOEntry{Name: "init", Mode: 0o755, Data: fmt.Appendf(nil, initScript, marker)})
	t.add(CPIOEntry{Name: "guest/run.sh", Mode: 0o755, Data: []byte(script)})
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := strings.TrimPrefix(path.Clean("/"+n), "/")
		if clean == "" || clean != strings.TrimPrefix(n, "/") {
			return nil, fmt.Errorf("guest: file %q: not a clean path", n)
		}
		if err := t.add(CPIOEntry{Name: clean, Mode: 0o755, Data: files[n]}); err != nil {
			return nil, fmt.Errorf("guest: file %q: %w", n, err)
		}
	}
	var buf bytes.Buffer
	if err := WriteCPIO(&buf, t.entries); err != nil {
		return nil, fmt.Errorf("guest: %w", err)
	}
	return buf.Bytes(), nil
}

// qemuArgs returns qemu's command line for a boot.
func qemuArgs(o Options, initrd string) []string {
	accel := []string{"-accel", "tcg"}
	if o.KVM {
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	cmdline := "console=ttyS0 panic=-1 quiet"
	if !o.KVM {
		// Under TCG on a busy host a virtual CPU can go unscheduled for
		// seconds: the RCU stall and soft-lockup detectors then report a
		// call trace that says nothing about the patch (seen while the
		// host ran other builds). Oopses, BUGs and WARNs still fail a
		// verification.
		cmdline += " rcupdate.rcu_cpu_stall_suppress=1 nowatchdog"
	}
	if o.Append != "" {
		cmdline += " " + o.Append
	}
	args := []string{"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-monitor", "none", "-serial", "stdio"}
	args = append(args, accel...)
	return append(args, "-m", o.Memory, "-smp", strconv.Itoa(o.CPUs),
		"-kernel", o.Kernel, "-initrd", initrd, "-append", cmdline)
}

// lockedBuffer collects qemu's output from its copying goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends to the buffer.
func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns the buffer's content.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// boot runs qemu until the guest powers off, the timeout passes or ctx
// ends, killing qemu in the latter cases. It returns the console and what
// went wrong. qemu dies with the caller: it runs in its own process group
// (a terminal's ^C reaches the caller, which decides), the group is
// killed whenever boot returns, and the kernel sends it SIGKILL when the
// caller dies, even by SIGKILL (the parent-death signal).
func boot(ctx context.Context, o Options, initrd string) (string, []string) {
	var out, stderr lockedBuffer
	cmd := exec.Command(qemuBinary, qemuArgs(o, initrd)...)
	cmd.Stdin = nil
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	o.Log("guest: booting %s (%s, %s, %d CPU, timeout %s)", o.Kernel, accelName(o), o.Memory, o.CPUs, o.Timeout)
	done := make(chan error, 1)
	if err := startAndWait(cmd, done); err != nil {
		return "", []string{fmt.Sprintf("start %s: %v", qemuBinary, err)}
	}
	// qemu leads its process group: the group is killed, not only qemu.
	// (Once Wait has returned, the group's number may be another's.)
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	var problems []string
	var werr error
	select {
	case werr = <-done:
	case <-timer.C:
		kill()
		werr = <-done
		problems = append(problems, fmt.Sprintf("qemu killed after the %s timeout", o.Timeout))
	case <-ctx.Done():
		kill()
		werr = <-done
		problems = append(problems, fmt.Sprintf("qemu killed: %v", ctx.Err()))
	}
	o.Log("guest: qemu ended after %.1fs", time.Since(start).Seconds())
	if len(problems) == 0 && werr != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			msg = werr.Error()
		}
		problems = append(problems, fmt.Sprintf("qemu failed (%v): %s", werr, msg))
	}
	return cleanConsole(out.String()), problems
}

// startAndWait starts cmd and sends the result of its Wait on done. The
// parent-death signal fires when the thread that forked the child exits,
// not the process; the goroutine keeps its thread locked from the start
// to the end of the child, so that the runtime cannot end that thread
// (it does end a thread whose locked goroutine exits) while qemu runs.
func startAndWait(cmd *exec.Cmd, done chan<- error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	return <-started
}

// terminalControl matches the escape sequences the firmware prints for
// a terminal (ESC c resets it), which an error message must not carry.
var terminalControl = regexp.MustCompile("\x1b(\\[[0-?]*[ -/]*[@-~]|[@-~])")

// cleanConsole drops carriage returns and terminal escape sequences.
func cleanConsole(s string) string {
	return terminalControl.ReplaceAllString(strings.ReplaceAll(s, "\r", ""), "")
}

// accelName names the accelerator for messages.
func accelName(o Options) string {
	if o.KVM {
		return "KVM"
	}
	return "TCG"
}
