package guest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Check is one guest command and what its output must look like with and
// without the patch.
type Check struct {
	// Command is a busybox sh script; its standard output and error are
	// the check's output.
	Command string
	// Patched and Unpatched are Go regular expressions the output must
	// match with and without the patch; an empty one is not checked.
	Patched, Unpatched string
	// Source says where the check was written (FILE:LINE), for messages;
	// it may be empty.
	Source string
}

// Verify names the livepatch module to verify and how.
type Verify struct {
	// Module is the livepatch module (.ko) on the host.
	Module string
	// Preload names the distribution modules the patch targets; their
	// dependencies are loaded with them.
	Preload []string
	// Checks run without the patch, with it and without it again.
	Checks []Check
	// LateLoad loads the patch first and the Preload modules after its
	// transition (late module patching); the checks then run only once
	// the target modules are loaded.
	LateLoad bool
}

// Result is what a verification saw.
type Result struct {
	// Summary has one stable line per step: what was loaded and checked,
	// the transitions and the verdict. Golden files compare it.
	Summary string
	// Console is the guest's whole serial console.
	Console string
	// Elapsed is the boot and verification time.
	Elapsed time.Duration
	// Distinct lists the checks (from 1) that tell the patch from no
	// patch: their output before the patch was loaded does not match
	// their Patched regexp. A late load has no such phase: it is empty.
	Distinct []int
}

// Phases of a verification, as the guest marks them.
const (
	phaseBefore  = "unpatched"
	phasePatched = "patched"
	phaseAfter   = "unpatched-again"
)

// transitionWait bounds the guest's wait for a livepatch transition, in
// tenths of a second.
const transitionWait = 600

// failPatterns are kernel log lines that fail a verification. Unsigned
// modules taint the kernel (E) and livepatches taint it (K); neither is a
// failure. Besides oopses and warnings, the complaints of the x86 code
// that patches a module's annotations (6.12 with IBT, call padding, call
// depth tracking and return thunks): a return the loader left on the
// return thunk (the thunk's WARN), an indirect branch to a function
// without ENDBR (a #CP that only hardware with CET raises), a call site
// whose callee's padding is not a call thunk's, and x86 relocations the
// module loader could not apply.
var failPatterns = regexp.MustCompile(`Kernel panic|BUG: |Oops|general protection fault|WARNING: CPU|Call Trace|` +
	`Unpatched return thunk|Missing ENDBR|Invalid padding area|x86/modules: Invalid relocation|Unknown rela relocation|overflow in relocation`)

// VerifyPatch boots the kernel of o with the livepatch module of v and
// proves it in the guest: the Preload modules load (unless LateLoad),
// every check matches Unpatched, the patch loads and its transition
// completes with enabled=1, the checks match Patched (LateLoad: after the
// target modules load), the patch is disabled, its reverse transition
// completes, it unloads, and the checks match Unpatched again. A kernel
// log line with a panic, oops, BUG, WARNING or call trace fails it (each
// different line named once). Unless LateLoad, the checks must also tell
// the patch from no patch: at least one check's output before the patch
// is loaded must fail its Patched regexp (Result.Distinct), or the
// verification fails with Error.Indistinct saying so. On failure the error is
// an *Error whose message ends with the console's tail; the Result is
// returned in both cases once the guest has booted.
func VerifyPatch(ctx context.Context, o Options, v Verify) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	plan, err := planVerify(o, v)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	console, runErr := run(ctx, o, plan.script(), plan.files)
	res := &Result{Console: console, Elapsed: time.Since(start)}
	var problems []string
	var ge *Error
	if errors.As(runErr, &ge) {
		problems = ge.Problems
	} else if runErr != nil {
		return nil, runErr
	}
	vd := plan.judge(console)
	summary := vd.summary
	for _, pr := range problems {
		summary += "FAIL: " + pr + "\n"
	}
	problems = append(problems, vd.problems...)
	res.Distinct = vd.distinct
	if len(problems) > 0 {
		summary += fmt.Sprintf("result: FAIL (%d %s)\n", len(problems), plural(len(problems), "problem"))
	} else {
		summary += "result: ok\n"
	}
	res.Summary = summary
	o.Log("guest: verification of %s took %.1fs", plan.patch, res.Elapsed.Seconds())
	if len(problems) > 0 {
		return res, &Error{Problems: problems, Console: console, Indistinct: vd.indistinct}
	}
	return res, nil
}

// verifyPlan is a verification ready to boot: the guest files, the
// compiled expectations and the names the console will show.
type verifyPlan struct {
	release  string
	patch    string // the livepatch's module name
	preload  []ModuleFile
	late     bool
	checks   []Check
	patched  []*regexp.Regexp
	unpatch  []*regexp.Regexp
	files    map[string][]byte
	marker   string
	numCheck int
}

// planVerify checks v against the kernel and collects the guest's files.
func planVerify(o Options, v Verify) (*verifyPlan, error) {
	p := &verifyPlan{release: o.Release, late: v.LateLoad, checks: v.Checks,
		files: map[string][]byte{}, marker: newMarker(), numCheck: len(v.Checks)}
	if v.Module == "" {
		return nil, fmt.Errorf("verify: no patch module given")
	}
	if v.LateLoad && len(v.Preload) == 0 {
		return nil, fmt.Errorf("verify: late load needs the target modules (Preload)")
	}
	ko, err := readModuleFile(v.Module)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	mi, err := ReadModinfo(v.Module, ko)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !mi.Livepatch {
		return nil, fmt.Errorf("verify: %s: modinfo has no livepatch=Y: not a livepatch module", v.Module)
	}
	if f := strings.Fields(mi.Vermagic); len(f) == 0 || f[0] != o.Release {
		return nil, fmt.Errorf("verify: %s: vermagic %q does not match kernel %s", v.Module, mi.Vermagic, o.Release)
	}
	if !moduleNameRE.MatchString(mi.Name) {
		return nil, fmt.Errorf("verify: %s: module name %q is not a kernel module name", v.Module, mi.Name)
	}
	p.patch = mi.Name
	p.files["guest/modules/"+mi.Name+".ko"] = ko
	if len(v.Preload) > 0 {
		p.preload, err = ResolveModules(o.ModulesDir, v.Preload)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	for _, m := range p.preload {
		if !moduleNameRE.MatchString(m.Name) {
			return nil, fmt.Errorf("verify: %s: module name %q is not a kernel module name", m.Path, m.Name)
		}
		if m.Name == p.patch {
			return nil, fmt.Errorf("verify: preload module %s has the patch's name", m.Name)
		}
		b, err := readModuleFile(m.Path)
		if err != nil {
			return nil, fmt.Errorf("verify: preload %s: %w", m.Name, err)
		}
		p.files["guest/modules/"+m.Name+".ko"] = b
	}
	for i, c := range v.Checks {
		pre, err := compileCheck(i, "Patched", c.Patched)
		if err != nil {
			return nil, err
		}
		un, err := compileCheck(i, "Unpatched", c.Unpatched)
		if err != nil {
			return nil, err
		}
		p.patched = append(p.patched, pre)
		p.unpatch = append(p.unpatch, un)
		p.files[fmt.Sprintf("guest/check-%d.sh", i+1)] = []byte(c.Command + "\n")
	}
	return p, nil
}

// moduleNameRE is what a module name may be; the guest script uses the
// names as words and file names. The kernel allows 55 bytes.
var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,55}$`)

// compileCheck compiles one expectation; empty means none.
func compileCheck(i int, which, re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	r, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("verify: check %d: %s regexp: %w", i+1, which, err)
	}
	return r, nil
}

// guestFunctions are the shell helpers of the verification script. The
// guest only runs steps and prints marked output; the host judges.
const guestFunctions = `say() { echo "$M $*"; }
kmsg() {
	dmesg >/tmp/kmsg
	say dmesg-begin "$1"; tail -n +$((SEEN + 1)) /tmp/kmsg; say dmesg-end "$1"
	SEEN=$(wc -l </tmp/kmsg)
}
check() {
	sh /guest/check-$2.sh >/tmp/check.out 2>&1 </dev/null
	rc=$?
	say check-begin "$1" "$2"
	cat /tmp/check.out; echo
	say check-end "$1" "$2" "$rc"
}
load() { insmod /guest/modules/$1.ko; say insmod "$1" $?; }
lpwait() {
	f=/sys/kernel/livepatch/$1/transition; i=0
	while [ -e "$f" ] && [ "$(cat "$f" 2>/dev/null)" != 0 ]; do
		i=$((i + 1))
		if [ $i -ge $LPWAIT ]; then say transition "$1" stuck; return 1; fi
		usleep 100000
	done
	say transition "$1" done
}
unload() {
	i=0
	until rmmod "$1" 2>/tmp/rmmod.err; do
		i=$((i + 1))
		if [ $i -ge 50 ]; then cat /tmp/rmmod.err; say rmmod "$1" 1; return 1; fi
		usleep 100000
	done
	say rmmod "$1" 0
}
finish() { kmsg end; say done; exit 0; }
`

// script returns the guest's verification script.
func (p *verifyPlan) script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "M='%s'\nLPWAIT=%d\nP=%s\n%s", p.marker, transitionWait, p.patch, guestFunctions)
	// The kernel log is never cleared (a check may read it): each phase
	// prints the lines after those already seen.
	b.WriteString("dmesg >/tmp/boot.log\nSEEN=$(wc -l </tmp/boot.log)\nsay dmesg-begin boot\n")
	fmt.Fprintf(&b, "grep -E -A 20 '%s' /tmp/boot.log\nsay dmesg-end boot\n", failPatterns)
	loads := func() {
		for _, m := range p.preload {
			fmt.Fprintf(&b, "load %s\n", m.Name)
		}
	}
	checks := func(phase string) {
		fmt.Fprintf(&b, "say phase %s\n", phase)
		for i := 1; i <= p.numCheck; i++ {
			fmt.Fprintf(&b, "check %s %d\n", phase, i)
		}
		fmt.Fprintf(&b, "kmsg %s\n", phase)
	}
	if !p.late {
		loads()
		checks(phaseBefore)
	}
	b.WriteString(`load $P
[ -d /sys/kernel/livepatch/$P ] || { say no-sysfs $P; finish; }
lpwait $P || finish
say enabled $P "$(cat /sys/kernel/livepatch/$P/enabled)"
say tainted "$(cat /proc/sys/kernel/tainted)"
kmsg load
`)
	if p.late {
		loads()
	}
	checks(phasePatched)
	b.WriteString(`echo 0 >/sys/kernel/livepatch/$P/enabled
say disable $P $?
lpwait $P || finish
unload $P
`)
	checks(phaseAfter)
	b.WriteString("finish\n")
	return b.String()
}

// taintFlags are the kernel's taint letters by bit.
const taintFlags = "PFSRMBUDAWCIOELKXTN"

// taintLetters decodes /proc/sys/kernel/tainted.
func taintLetters(v string) string {
	var n uint64
	if _, err := fmt.Sscan(v, &n); err != nil {
		return v
	}
	var s []byte
	for i := range len(taintFlags) {
		if n&(1<<i) != 0 {
			s = append(s, taintFlags[i])
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return string(s)
}

// maxShownLines bounds the output a failed check shows in the summary,
// and the kernel log lines a problem list names.
const maxShownLines = 12

// verdict is what judge read from a console.
type verdict struct {
	// summary is the Result's summary without its result line.
	summary  string
	problems []string
	// distinct are the checks (from 1) whose output before the patch
	// fails their patched regexp.
	distinct []int
	// indistinct says why no check tells the patch from no patch; it is
	// empty when one does.
	indistinct string
}

// judge reads the console and returns the verdict.
func (p *verifyPlan) judge(console string) verdict {
	var sum strings.Builder
	var vd verdict
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		vd.problems = append(vd.problems, msg)
		fmt.Fprintf(&sum, "FAIL: %s\n", msg)
	}
	before := make([]*string, p.numCheck) // the outputs before the patch
	fmt.Fprintf(&sum, "kernel: %s\npatch: %s\n", p.release, p.patch)
	if len(p.preload) > 0 {
		mode := "before the patch"
		if p.late {
			mode = "after the patch (late load)"
		}
		fmt.Fprintf(&sum, "targets: %s, loaded %s\n", moduleNames(p.preload), mode)
	}
	for i, c := range p.checks {
		fmt.Fprintf(&sum, "check %d: %q\n", i+1, c.Command)
		if p.unpatch[i] != nil {
			fmt.Fprintf(&sum, "  unpatched /%s/\n", p.unpatch[i])
		}
		if p.patched[i] != nil {
			fmt.Fprintf(&sum, "  patched /%s/\n", p.patched[i])
		}
	}
	if p.late {
		sum.WriteString("unpatched: not checked before the patch, the targets load after it\n")
	}
	optional := map[string]ModuleFile{}
	for _, m := range p.preload {
		optional[m.Name] = m
	}
	seen := map[string]bool{}
	var kernelBad kernelProblems
	lines := strings.Split(console, "\n")
	prefix := p.marker + " "
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.HasPrefix(line, prefix) {
			if failPatterns.MatchString(line) {
				kernelBad.add(line)
			}
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, prefix))
		if len(f) == 0 {
			continue
		}
		arg := func(k int) string {
			if k < len(f) {
				return f[k]
			}
			return ""
		}
		switch f[0] {
		case "phase":
			seen["phase "+arg(1)] = true
		case "insmod":
			name, rc := arg(1), arg(2)
			m, isPreload := optional[name]
			switch {
			case rc == "0":
				fmt.Fprintf(&sum, "load %s: ok\n", name)
			case isPreload && m.Optional:
				fmt.Fprintf(&sum, "load %s: failed (status %s), optional for %s\n", name, rc, m.For)
			default:
				fail("load %s: insmod exited with status %s", name, rc)
			}
		case "no-sysfs":
			fail("%s loaded but /sys/kernel/livepatch/%s is missing", arg(1), arg(1))
		case "transition":
			if arg(2) == "done" {
				fmt.Fprintf(&sum, "transition %s: done\n", arg(1))
			} else {
				fail("transition %s: still running after %ds", arg(1), transitionWait/10)
			}
		case "enabled":
			if arg(2) == "1" {
				fmt.Fprintf(&sum, "enabled %s: 1\n", arg(1))
			} else {
				fail("enabled %s: reads %q after the transition, want 1", arg(1), arg(2))
			}
		case "tainted":
			fmt.Fprintf(&sum, "taint: %s\n", taintLetters(arg(1)))
		case "disable":
			if arg(2) == "0" {
				fmt.Fprintf(&sum, "disable %s: ok\n", arg(1))
			} else {
				fail("disable %s: writing 0 to enabled failed", arg(1))
			}
		case "rmmod":
			if arg(2) == "0" {
				fmt.Fprintf(&sum, "unload %s: ok\n", arg(1))
			} else {
				fail("unload %s: rmmod failed", arg(1))
			}
		case "check-begin":
			phase, idx := arg(1), arg(2)
			end := prefix + "check-end " + phase + " " + idx + " "
			var out []string
			j := i + 1
			for ; j < len(lines) && !strings.HasPrefix(lines[j], end); j++ {
				out = append(out, lines[j])
			}
			seen["check "+phase+" "+idx] = true
			if j == len(lines) {
				// Go on after the begin marker: the kernel's last words
				// are among these lines.
				fail("%s: check %s: the guest stopped during the check", phase, idx)
				continue
			}
			rc := strings.TrimPrefix(lines[j], end)
			i = j
			// The guest adds one newline after the output.
			text := strings.Join(out, "\n")
			text = strings.TrimSuffix(text, "\n")
			if k := p.judgeCheck(&sum, fail, phase, idx, rc, text); k > 0 && phase == phaseBefore {
				before[k-1] = &text
			}
		case "done":
			seen["done"] = true
		}
	}
	if len(kernelBad.lines) > 0 {
		fail("kernel log reports a problem:\n  %s", strings.Join(kernelBad.shown(), "\n  "))
	}
	if !strings.Contains(console, prefix) {
		fail("the guest never started the verification")
		vd.summary = sum.String()
		return vd
	}
	for _, phase := range []string{phaseBefore, phasePatched, phaseAfter} {
		if phase == phaseBefore && p.late {
			continue
		}
		for k := 1; k <= p.numCheck; k++ {
			if !seen[fmt.Sprintf("check %s %d", phase, k)] {
				fail("%s: check %d did not run", phase, k)
			}
		}
	}
	if !seen["done"] {
		fail("the guest did not finish the verification")
	}
	p.judgeDistinct(&vd, fail, before)
	vd.summary = sum.String()
	return vd
}

// judgeDistinct finds the checks that tell the patch from no patch:
// those whose output before the patch (before[i], nil when the check did
// not run) fails their patched regexp. When every check ran and none
// does, the checks prove nothing and the verification fails. A late load
// has no output before the patch: nothing is measured.
func (p *verifyPlan) judgeDistinct(vd *verdict, fail func(string, ...any), before []*string) {
	if p.late || p.numCheck == 0 {
		return
	}
	var same []string
	for i, out := range before {
		switch {
		case out == nil:
			return // the check did not run: already a failure
		case p.patched[i] == nil:
			same = append(same, fmt.Sprintf("check %d%s has no patched regexp", i+1, p.source(i)))
		case p.patched[i].MatchString(*out):
			same = append(same, fmt.Sprintf("check %d%s: /%s/ matches %s", i+1, p.source(i), p.patched[i], shortOutput(*out)))
		default:
			vd.distinct = append(vd.distinct, i+1)
		}
	}
	if len(vd.distinct) == 0 {
		vd.indistinct = "without the patch, no check's output fails its patched regexp:\n  " + strings.Join(same, "\n  ")
		fail("the checks cannot tell the patch from no patch: %s", vd.indistinct)
	}
}

// source returns " (FILE:LINE)" for check i when its source is known.
func (p *verifyPlan) source(i int) string {
	if p.checks[i].Source == "" {
		return ""
	}
	return " (" + p.checks[i].Source + ")"
}

// shortOutput quotes a check's output for a one-line message, cut to its
// first line and 80 bytes.
func shortOutput(s string) string {
	cut := false
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s, cut = s[:i], true
	}
	if len(s) > 80 {
		s, cut = s[:80], true
	}
	q := strconv.Quote(s)
	if cut {
		q += "..."
	}
	return q
}

// kernelProblems are the kernel log lines that fail a verification,
// each different text once: the console shows a line of a high enough
// level as the kernel prints it and again in the guest's dmesg (the same
// line, with its timestamp), and a warning repeated is one problem.
type kernelProblems struct {
	lines []string        // first occurrence of each text, in order
	count map[string]int  // occurrences by text without the timestamp
	seen  map[string]bool // the lines, with their timestamps
}

// kernelTimestamp is the "[   12.345678] " prefix of a kernel log line.
var kernelTimestamp = regexp.MustCompile(`^\[ *[0-9]+\.[0-9]+\] `)

// add notes one kernel log line.
func (k *kernelProblems) add(line string) {
	line = strings.TrimSpace(line)
	text := kernelTimestamp.ReplaceAllString(line, "")
	if k.count == nil {
		k.count, k.seen = map[string]int{}, map[string]bool{}
	}
	if k.seen[line] {
		return
	}
	k.seen[line] = true
	if k.count[text] == 0 {
		k.lines = append(k.lines, line)
	}
	k.count[text]++
}

// shown returns the lines to list, each with how many times it appeared
// when more than once, at most maxShownLines of them.
func (k *kernelProblems) shown() []string {
	var out []string
	for _, l := range k.lines {
		if len(out) == maxShownLines {
			out = append(out, fmt.Sprintf("... and %d more", len(k.lines)-maxShownLines))
			break
		}
		if n := k.count[kernelTimestamp.ReplaceAllString(l, "")]; n > 1 {
			l += fmt.Sprintf(" (%d times)", n)
		}
		out = append(out, l)
	}
	return out
}

// judgeCheck matches one check's output against its expectation and
// returns the check's number (0 for an unknown one). Before the patch,
// the summary also says whether the output fails the patched regexp:
// whether the check tells the patch from no patch.
func (p *verifyPlan) judgeCheck(sum *strings.Builder, fail func(string, ...any), phase, idx, rc, text string) int {
	var k int
	fmt.Sscan(idx, &k)
	if k < 1 || k > p.numCheck {
		fail("%s: unknown check %q on the console", phase, idx)
		return 0
	}
	re := p.unpatch[k-1]
	if phase == phasePatched {
		re = p.patched[k-1]
	}
	status := ""
	if rc != "0" {
		status = fmt.Sprintf(" (exit status %s)", rc)
	}
	tells := ""
	if pre := p.patched[k-1]; phase == phaseBefore && pre != nil {
		tells = "; does not tell the patch apart (matches the patched regexp too)"
		if !pre.MatchString(text) {
			tells = "; tells the patch apart (does not match the patched regexp)"
		}
	}
	switch {
	case re == nil:
		fmt.Fprintf(sum, "%s: check %s: not checked%s%s\n", phase, idx, status, tells)
	case re.MatchString(text):
		fmt.Fprintf(sum, "%s: check %s: ok%s%s\n", phase, idx, status, tells)
	default:
		out := strings.Split(text, "\n")
		if len(out) > maxShownLines {
			out = append(out[:maxShownLines], "...")
		}
		fail("%s: check %s: output does not match /%s/%s; output:\n  | %s", phase, idx, re, status, strings.Join(out, "\n  | "))
	}
	return k
}

// moduleNames lists modules for the summary, marking optional ones.
func moduleNames(ms []ModuleFile) string {
	var s []string
	for _, m := range ms {
		n := m.Name
		if m.Optional {
			n += " (optional)"
		}
		s = append(s, n)
	}
	return strings.Join(s, ", ")
}

// plural returns word for one and word+"s" otherwise.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
