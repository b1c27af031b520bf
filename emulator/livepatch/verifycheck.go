package livepatch

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// Check is something VerifyModule observes before, during and after the
// patch. It is one of:
//
//   - a text system call (Syscall, no Call): the text it writes to a
//     user buffer;
//   - a proc entry (Proc): its text, read with sys_proc_read;
//   - a system call with arguments (Call): its result, the user memory
//     its u32 arguments point to afterwards, and the console lines it
//     printed; with Step it is made twice and shows the difference of
//     the two results instead;
//   - a kernel function without arguments (Func), called in a kernel
//     thread: its result, or the C string it returns (String);
//   - a kernel variable (Var), an unsigned long read as a debugger
//     does: its value; with Step, read twice Every ns apart, the
//     difference.
//
// A text or proc check's numbers are masked when texts are compared
// (counters move on their own); a call's or function's result lines are
// compared exactly and only its console lines are masked.
type Check struct {
	// Name labels the check in the report.
	Name string
	// Syscall is the system call number: a text system call (0..5:
	// version, cmdline, meminfo, vmstat, stat, cpuinfo) when Proc, Call
	// and Func are unset, else the number Call makes.
	Syscall uint64
	// Proc is a proc entry name read with sys_proc_read (e.g. "hello").
	Proc string
	// Call makes Syscall with Args.
	Call bool
	// Args are Call's arguments.
	Args []CheckArg
	// Step makes Call twice and shows the second result minus the first.
	Step bool
	// Func is "[OBJECT:]NAME", a function of vmlinux or of a loaded
	// module that takes no arguments; the check calls it at its own
	// address, so a patched function runs its new code.
	Func string
	// String says Func returns a pointer to a C string.
	String bool
	// Var is "[OBJECT:]NAME", an unsigned long of vmlinux or of a loaded
	// module.
	Var string
	// Every is the virtual time between a Step check's two readings of
	// Var, while the machine runs.
	Every uint64
	// Limit is the virtual time the check may take in ns (default 500 ms).
	Limit uint64
	// Want, if set, is text the check must show with the patch and
	// neither before nor after it (the catalogue and kpatch-build
	// --verify test it; VerifyModule only records the texts).
	Want string
}

// CheckArg is one argument of a system call check.
type CheckArg struct {
	// Kind is "int" (Value itself), "string" (the address of a
	// NUL-terminated copy of Text in user memory) or "u32" (the address
	// of a user u32 that holds Value; its value after the call is shown).
	Kind  string
	Value uint64
	Text  string
}

// String prints the argument as the check language spells it.
func (a CheckArg) String() string {
	switch a.Kind {
	case "string":
		return strconv.Quote(a.Text)
	case "u32":
		return fmt.Sprintf("u32=%d", a.Value)
	}
	return strconv.FormatInt(int64(a.Value), 10)
}

const defaultCheckLimit = 500_000_000

// ParseCheck parses a check of the check language, the text after
// "check " in a catalogue entry's NAME.expect:
//
//	syscall NR TEXT             text system call NR shows TEXT with the patch
//	proc NAME [=> TEXT]         proc entry NAME (sys_proc_read)
//	call NR ARG... [=> TEXT]    system call NR with arguments: an integer,
//	                            a "quoted string" (its address in user
//	                            memory) or u32=N (the address of a user u32
//	                            holding N, shown after the call); shows
//	                            "returned R", "u32 V" and "console: LINE"
//	step NR ARG... [=> TEXT]    the same call made twice: "step R2-R1"
//	func [OBJ:]NAME long|string [=> TEXT]
//	                            a function without arguments called in a
//	                            kernel thread: `returned R` or `returned "S"`
//	sleep DURATION              the check process sleeps (sys_nanosleep)
//	                            so that kernel threads run, e.g. 12s
//	var [OBJ:]NAME [=> TEXT]    an unsigned long kernel variable: "value V"
//	step var [OBJ:]NAME DURATION [=> TEXT]
//	                            read twice DURATION apart: "step V2-V1"
//
// TEXT is what the check must show with the patch only (Check.Want).
func ParseCheck(spec string) (Check, error) {
	spec = strings.TrimSpace(spec)
	kind, rest, _ := strings.Cut(spec, " ")
	rest = strings.TrimSpace(rest)
	body, want := cutWant(rest)
	name := kind + " " + body
	switch kind {
	case "syscall":
		nrText, text, _ := strings.Cut(rest, " ")
		nr, err := strconv.ParseUint(nrText, 10, 64)
		if err != nil || nr > 5 {
			return Check{}, fmt.Errorf("check syscall %q: not a text system call number (0..5)", nrText)
		}
		if strings.TrimSpace(text) == "" {
			return Check{}, fmt.Errorf("check syscall %d: no text to look for", nr)
		}
		ch := Check{Name: fmt.Sprintf("syscall %d", nr), Syscall: nr, Want: strings.TrimSpace(text)}
		for _, d := range DefaultChecks {
			if d.Syscall == nr {
				ch.Name = d.Name
			}
		}
		return ch, nil
	case "proc":
		if body == "" || strings.Contains(body, " ") {
			return Check{}, fmt.Errorf("check proc %q: want one proc entry name", body)
		}
		return Check{Name: "proc " + body, Proc: body, Want: want}, nil
	case "var":
		if body == "" || strings.Contains(body, " ") {
			return Check{}, fmt.Errorf("check var %q: want [OBJECT:]NAME", body)
		}
		return Check{Name: name, Var: body, Want: want}, nil
	case "call", "step":
		if v, ok := strings.CutPrefix(body, "var "); ok && kind == "step" {
			sym, durText, _ := strings.Cut(strings.TrimSpace(v), " ")
			d, err := time.ParseDuration(strings.TrimSpace(durText))
			if sym == "" || err != nil || d <= 0 || d > time.Minute {
				return Check{}, fmt.Errorf("check step var %q: want [OBJECT:]NAME DURATION (up to 1m)", v)
			}
			return Check{Name: name, Var: sym, Step: true, Every: uint64(d), Want: want}, nil
		}
		nrText, argText, _ := strings.Cut(body, " ")
		nr, err := strconv.ParseUint(nrText, 10, 64)
		if err != nil {
			return Check{}, fmt.Errorf("check %s: bad system call number %q", kind, nrText)
		}
		args, err := parseCheckArgs(argText)
		if err != nil {
			return Check{}, fmt.Errorf("check %s %d: %w", kind, nr, err)
		}
		return Check{Name: name, Syscall: nr, Call: true, Args: args, Step: kind == "step", Want: want}, nil
	case "func":
		fn, ret, _ := strings.Cut(body, " ")
		if fn == "" || (ret != "long" && ret != "string") {
			return Check{}, fmt.Errorf("check func %q: want [OBJECT:]NAME long|string", body)
		}
		return Check{Name: name, Func: fn, String: ret == "string", Want: want}, nil
	case "sleep":
		d, err := time.ParseDuration(body)
		if err != nil || d <= 0 || d > time.Minute {
			return Check{}, fmt.Errorf("check sleep %q: want a duration up to 1m", body)
		}
		if want != "" {
			return Check{}, fmt.Errorf("check sleep %s: a sleep shows no text", body)
		}
		return Check{Name: name, Syscall: nrNanosleep, Call: true, Args: []CheckArg{{Kind: "int", Value: uint64(d)}},
			Limit: uint64(d) + defaultCheckLimit}, nil
	}
	return Check{}, fmt.Errorf("check %q: want syscall, proc, call, step, func, var or sleep", spec)
}

// AddChecks parses specs (ParseCheck) and appends them to a copy of
// base, in order; a check whose name is already there (a default text
// system call, the same call twice) is observed once. It also returns
// the parsed checks that carry a Want text.
func AddChecks(base []Check, specs []string) (checks, want []Check, err error) {
	checks = append([]Check(nil), base...)
	for _, spec := range specs {
		ch, err := ParseCheck(spec)
		if err != nil {
			return nil, nil, err
		}
		if !slices.ContainsFunc(checks, func(c Check) bool { return c.Name == ch.Name }) {
			checks = append(checks, ch)
		}
		if ch.Want != "" {
			want = append(want, ch)
		}
	}
	return checks, want, nil
}

// cutWant splits "BODY => TEXT" at the first "=>" outside a quoted
// string.
func cutWant(s string) (body, want string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], "=>"):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+2:])
		}
	}
	return strings.TrimSpace(s), ""
}

// nrNanosleep is sys_nanosleep's number (arch/x86/include/asm/unistd.h).
const nrNanosleep = 11

// parseCheckArgs splits a call's arguments: integers, quoted strings and
// u32=N.
func parseCheckArgs(s string) ([]CheckArg, error) {
	var args []CheckArg
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad string argument %s", s)
			}
			text, _ := strconv.Unquote(q)
			args = append(args, CheckArg{Kind: "string", Text: text})
			s = s[len(q):]
			continue
		}
		tok, next, _ := strings.Cut(s, " ")
		s = next
		kind, num := "int", tok
		if v, ok := strings.CutPrefix(tok, "u32="); ok {
			kind, num = "u32", v
		}
		v, err := strconv.ParseInt(num, 0, 64)
		if err != nil || kind == "u32" && (v < 0 || v > 1<<32-1) {
			return nil, fmt.Errorf("bad argument %q: want an integer, a \"string\" or u32=N", tok)
		}
		args = append(args, CheckArg{Kind: kind, Value: uint64(v)})
	}
	if len(args) > 3 {
		return nil, fmt.Errorf("%d arguments: a system call takes at most 3", len(args))
	}
	return args, nil
}

// isCall says whether a check shows results (compared exactly) rather
// than a text (compared with its numbers masked).
func (ch Check) isCall() bool { return ch.Call || ch.Func != "" || ch.Var != "" }

// shapeOf is the text of a check as it is compared: a text's numbers
// masked, a call's console lines' numbers masked (pids and times move).
func (ch Check) shapeOf(s string) string {
	if !ch.isCall() {
		return shape(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "console: ") {
			lines[i] = shape(l)
		}
	}
	return strings.Join(lines, "\n")
}

// runCheck observes one check.
func runCheck(k *boot.Kernel, ch Check) (string, error) {
	if ch.Func != "" {
		return runFuncCheck(k, ch)
	}
	if ch.Var != "" {
		return runVarCheck(k, ch)
	}
	if !ch.Call {
		return readText(k.M, ch)
	}
	m := k.M
	limit := ch.Limit
	if limit == 0 {
		limit = defaultCheckLimit
	}
	since := m.ConsoleLen()
	var res [2]int64
	var u32s []uint32
	done := false
	_, err := m.Spawn("verify", func(u *machine.User) {
		defer u.Release(u.Mark())
		calls := 1
		if ch.Step {
			calls = 2
		}
		for i := 0; i < calls; i++ {
			var args, u32at []uint64
			for _, a := range ch.Args {
				switch a.Kind {
				case "string":
					args = append(args, u.CString(a.Text))
				case "u32":
					p := u.Alloc(4)
					u.Write(p, binary.LittleEndian.AppendUint32(nil, uint32(a.Value)))
					args = append(args, p)
					u32at = append(u32at, p)
				default:
					args = append(args, a.Value)
				}
			}
			res[i] = u.Syscall(ch.Syscall, args...)
			u32s = u32s[:0]
			for _, p := range u32at {
				u32s = append(u32s, binary.LittleEndian.Uint32(u.Read(p, 4)))
			}
		}
		done = true
	})
	if err != nil {
		return "", err
	}
	if err := m.RunUntil(func() bool { return done }, m.Now()+limit); err != nil {
		return "", err
	}
	if !done {
		return "", fmt.Errorf("system call %d did not return in %d ns", ch.Syscall, limit)
	}
	var b strings.Builder
	if ch.Step {
		fmt.Fprintf(&b, "step %d\n", res[1]-res[0])
	} else {
		fmt.Fprintf(&b, "returned %d\n", res[0])
	}
	for _, v := range u32s {
		fmt.Fprintf(&b, "u32 %d\n", v)
	}
	b.WriteString(consoleLines(m.ConsoleSince(since)))
	return b.String(), nil
}

// findSymbol finds "[OBJECT:]NAME" in kallsyms.
func findSymbol(k *boot.Kernel, spec string) (uint64, error) {
	obj, name, ok := strings.Cut(spec, ":")
	if !ok {
		obj, name = "", spec
	}
	sym, err := k.M.Syms.Find(obj, name, 0)
	if err != nil {
		return 0, err
	}
	return sym.Addr, nil
}

// runVarCheck reads an unsigned long kernel variable, or with Step the
// difference of two readings Every ns apart.
func runVarCheck(k *boot.Kernel, ch Check) (string, error) {
	addr, err := findSymbol(k, ch.Var)
	if err != nil {
		return "", err
	}
	read := func() (uint64, error) {
		var b [8]byte
		if err := k.M.Mem.Peek(addr, b[:]); err != nil {
			return 0, fmt.Errorf("%s: %w", ch.Var, err)
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	v, err := read()
	if err != nil {
		return "", err
	}
	if !ch.Step {
		return fmt.Sprintf("value %d\n", v), nil
	}
	if err := k.M.RunFor(ch.Every); err != nil {
		return "", err
	}
	v2, err := read()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("step %d\n", int64(v2-v)), nil
}

// runFuncCheck calls a function without arguments in a kernel thread.
func runFuncCheck(k *boot.Kernel, ch Check) (string, error) {
	addr, err := findSymbol(k, ch.Func)
	if err != nil {
		return "", err
	}
	limit := ch.Limit
	if limit == 0 {
		limit = defaultCheckLimit
	}
	since := k.M.ConsoleLen()
	ret, err := k.M.CallKernel("verify", addr, 0, limit)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if ch.String {
		s, err := kernelString(k, uint64(ret))
		if err != nil {
			return "", fmt.Errorf("%s returned %#x: %w", ch.Func, uint64(ret), err)
		}
		fmt.Fprintf(&b, "returned %q\n", s)
	} else {
		fmt.Fprintf(&b, "returned %d\n", ret)
	}
	b.WriteString(consoleLines(k.M.ConsoleSince(since)))
	return b.String(), nil
}

// kernelString reads the C string at addr in kernel memory (at most 256
// bytes).
func kernelString(k *boot.Kernel, addr uint64) (string, error) {
	var out []byte
	for len(out) < 256 {
		var c [1]byte
		if err := k.M.Mem.Peek(addr+uint64(len(out)), c[:]); err != nil {
			return "", err
		}
		if c[0] == 0 {
			return string(out), nil
		}
		out = append(out, c[0])
	}
	return "", fmt.Errorf("no NUL in 256 bytes")
}

// consoleLines prefixes the console lines a check printed with
// "console: ", without their timestamps.
func consoleLines(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "[") {
			if _, after, ok := strings.Cut(l, "] "); ok {
				l = after
			}
		}
		b.WriteString("console: " + l + "\n")
	}
	return b.String()
}
