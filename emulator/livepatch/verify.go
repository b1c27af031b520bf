package livepatch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/workload"
)

// DefaultChecks are the text system calls whose output is stable.
var DefaultChecks = []Check{
	{Name: "version", Syscall: 0}, {Name: "cmdline", Syscall: 1},
	{Name: "meminfo", Syscall: 2}, {Name: "cpuinfo", Syscall: 5},
}

// VerifyOptions configure VerifyModule.
type VerifyOptions struct {
	// Vmlinux is the running kernel to boot: the vmlinux of the tree the
	// module was built against (pipeline.Result.Running + "/vmlinux").
	Vmlinux string
	// Modules are .ko files to load before the patch (modules it
	// patches); by default, the modules of the running tree that the
	// patch names, if found under DIR/modules/NAME/NAME.ko beside
	// Vmlinux.
	Modules []string
	// CPUs and Seed configure the machine (default 2 CPUs, seed 1).
	CPUs int
	Seed int64
	// CPUID is the emulated CPU's cpuid (nil: cpu.DefaultCPUID); its
	// feature bits choose the alternatives of vmlinux and of modules.
	CPUID cpu.CPUIDFunc
	// Checks are observed before, with and after the patch (default
	// DefaultChecks, plus the proc entries of the preloaded modules).
	Checks []Check
	// Workload, if set, runs in the background the whole time.
	Workload string
	// Limit bounds each transition in virtual ns (default 2 s).
	Limit uint64
	// Console, if set, receives the console as it is written.
	Console io.Writer
	// NotReached gives, by patched function name, why no check runs
	// that function's new body (the summary prints it); see
	// VerifyReport.Unexplained.
	NotReached map[string]string
}

// VerifyReport is what VerifyModule saw.
type VerifyReport struct {
	// Module and Patch name the patch module and its live patch.
	Module, Patch string
	// Model is the patch's consistency model.
	Model Model
	// Funcs lists the patched functions as "object:name -> new".
	Funcs []string
	// Before, Patched and After are the checks' texts without the patch,
	// with it, and after it was disabled and unloaded.
	Before, Patched, After map[string]string
	// Changed names the checks whose text the patch changed.
	Changed []string
	// Ran says, for every patched function, how its new code was seen
	// to run: its body during the checks, or only its redirection.
	Ran []FuncRun
	// Transitions are the enable and disable transitions.
	Transitions []Report
	// Drained is how long (virtual ns) the module was kept after its
	// patch was disabled, until DrainedTasks had left its code (a task
	// asleep in a forced function's new body).
	Drained uint64
	// DrainedTasks names the tasks the unload waited for.
	DrainedTasks []string
	// Console is the whole console log.
	Console string

	shapes map[string]func(string) string // how each check's text is compared
}

// FuncRun is how a patched function's new code was seen to run.
type FuncRun struct {
	// Func is the patched function's name.
	Func string
	// Entries counts the entries into the new function while the
	// checks ran (by the checks or by anything else that ran meanwhile):
	// its body ran on real arguments.
	Entries int
	// Traceable is false for a new function without an fentry site,
	// whose entries cannot be counted.
	Traceable bool
	// Redirected says the function was called through its old address
	// after the checks did not reach it, and entered the new function
	// (stopped at its entry: the body did not run).
	Redirected bool
	// Reason is why no check runs the body (VerifyOptions.NotReached).
	Reason string
}

// BodyRan says whether the new function's body was seen to run.
func (f FuncRun) BodyRan() bool { return f.Entries > 0 }

// String prints the summary line of the function: "F: body ran during
// the checks (N entries)" or "F: redirection only (...); REASON".
func (f FuncRun) String() string {
	switch {
	case f.BodyRan():
		s := "entries"
		if f.Entries == 1 {
			s = "entry"
		}
		return fmt.Sprintf("%s: body ran during the checks (%d %s)", f.Func, f.Entries, s)
	case !f.Traceable:
		return fmt.Sprintf("%s: new code not traceable, redirection checked only", f.Func) + f.why()
	}
	return fmt.Sprintf("%s: redirection only (called through its old address, stopped at the new entry)", f.Func) + f.why()
}

func (f FuncRun) why() string {
	if f.Reason == "" {
		return "; no reason given why no check runs its body"
	}
	return "; not reached because " + f.Reason
}

// Unexplained lists the patched functions whose body did not run during
// the checks and for which no reason was given; with a reason whose
// body did run, the reason is stale and listed too.
func (r *VerifyReport) Unexplained() []string {
	var out []string
	for _, f := range r.Ran {
		switch {
		case !f.BodyRan() && f.Reason == "":
			out = append(out, f.Func+": body did not run during the checks and no reason is given")
		case f.BodyRan() && f.Reason != "":
			out = append(out, f.Func+": body ran during the checks, yet a reason why it is not reached is given")
		}
	}
	return out
}

// Summary prints the report in a few lines.
func (r *VerifyReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "patch %s (module %s, model %s)\n", r.Patch, r.Module, r.Model)
	for _, f := range r.Funcs {
		fmt.Fprintf(&b, "  patched %s\n", f)
	}
	for _, t := range r.Transitions {
		fmt.Fprintf(&b, "  %s\n", t)
	}
	for _, l := range r.Ran {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if len(r.Changed) == 0 {
		b.WriteString("  no check changed\n")
	}
	for _, n := range r.Changed {
		fmt.Fprintf(&b, "  %s changed:\n", n)
		for _, l := range diffLines(r.Before[n], r.Patched[n], r.shapes[n]) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	if len(r.DrainedTasks) > 0 {
		fmt.Fprintf(&b, "  unloaded %d ns after the patch was disabled, when %s had left its code\n", r.Drained, strings.Join(r.DrainedTasks, ", "))
	}
	b.WriteString("  old behaviour restored after unload\n")
	return b.String()
}

// diffLines lists the lines of a and b that differ in their shapes.
func diffLines(a, b string, shapeOf func(string) string) []string {
	if shapeOf == nil {
		shapeOf = shape
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if shapeOf(x) != shapeOf(y) {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return out
}

// VerifyModule proves a patch module end to end on the bundled target:
// it boots opts.Vmlinux, loads the modules the patch changes, records the
// checks, loads the patch module and waits for its transition, checks
// that every patched function's calls now land in its new function and
// records the checks again while counting entries into every new
// function (a check changed when its text differs with its numbers
// masked: counters move on their own; a call's results are compared
// exactly). A function whose new body no check ran is called through its
// old address, stopped at the new entry (Ran says which and why). It then
// disables the patch, waits for the reverse transition and for every task
// to leave the module's code, unloads the module and checks that every
// text is back to what it was. It fails if any step fails, if the
// transition does not complete, or if the old behaviour does not come
// back.
func VerifyModule(ko string, opts VerifyOptions) (*VerifyReport, error) {
	k, c, rep, fail, err := verifyStart(ko, &opts, "")
	if err != nil {
		return nil, err
	}
	if opts.Workload != "" {
		if err := workload.Start(k.M, opts.Workload); err != nil {
			return fail("%w", err)
		}
	}
	mods := opts.Modules
	if mods == nil {
		mods = modulesNamed(ko, filepath.Join(filepath.Dir(opts.Vmlinux), "modules"))
	}
	checks := opts.Checks
	if checks == nil {
		checks = append([]Check(nil), DefaultChecks...)
	}
	for _, m := range mods {
		mod, err := k.LoadModule(m)
		if err != nil {
			return fail("loading %s: %w", m, err)
		}
		if opts.Checks == nil && mod.Name != "" {
			checks = append(checks, Check{Name: "proc " + mod.Name, Proc: mod.Name})
		}
	}
	rep.shapes = map[string]func(string) string{}
	for _, ch := range checks {
		rep.shapes[ch.Name] = ch.shapeOf
	}
	observe := func() (map[string]string, error) {
		out := map[string]string{}
		for _, ch := range checks {
			s, err := runCheck(k, ch)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ch.Name, err)
			}
			out[ch.Name] = s
		}
		return out, nil
	}
	if rep.Before, err = observe(); err != nil {
		return fail("before: %w", err)
	}
	p, name, err := enablePatch(k, c, ko, opts.Limit)
	if name != "" {
		rep.Module = name
	}
	if err != nil {
		return fail("%w", err)
	}
	rep.Patch, rep.Model = p.Name, p.Model
	if rep.Funcs, err = checkRedirected(k, c, p, false); err != nil {
		return fail("%w", err)
	}
	// Count entries into every new function while the checks run; call
	// the ones the checks did not reach through their old addresses.
	counter, err := countNewCode(k, p)
	if err != nil {
		return fail("%w", err)
	}
	if rep.Patched, err = observe(); err != nil {
		counter.stop()
		return fail("patched: %w", err)
	}
	rep.Ran, err = counter.callUnreached(opts.Limit, opts.NotReached)
	counter.stop()
	if err != nil {
		return fail("%w", err)
	}
	for _, ch := range checks {
		if ch.shapeOf(rep.Before[ch.Name]) != ch.shapeOf(rep.Patched[ch.Name]) {
			rep.Changed = append(rep.Changed, ch.Name)
		}
	}
	sort.Strings(rep.Changed)
	if err := c.Disable(p.Name); err != nil {
		return fail("disable: %w", err)
	}
	if ok, err := c.WaitTransition(opts.Limit); err != nil || !ok {
		blocker, stack := c.Blocker()
		return fail("unpatching transition did not complete (%w): %s\n%s", transitionErr(err), blocker, stack)
	}
	if rep.Drained, rep.DrainedTasks, err = waitOffModule(k.M, name, drainLimit); err != nil {
		return fail("%w", err)
	}
	if err := k.Loader.Unload(name); err != nil {
		return fail("unload: %w", err)
	}
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			if f.OldAddr != 0 && c.Target(f.OldAddr) != f.OldAddr {
				return fail("%s still redirected after unload", f.OldName)
			}
		}
	}
	if rep.After, err = observe(); err != nil {
		return fail("after: %w", err)
	}
	for _, ch := range checks {
		if ch.shapeOf(rep.After[ch.Name]) != ch.shapeOf(rep.Before[ch.Name]) {
			return fail("%s not restored after unload:\n%s", ch.Name, strings.Join(diffLines(rep.Before[ch.Name], rep.After[ch.Name], ch.shapeOf), "\n"))
		}
	}
	rep.Transitions = append(rep.Transitions, c.Reports...)
	rep.Console = k.M.Console()
	return rep, nil
}

// shape masks the numbers of a text: counters (free memory, call
// counts, the clock) move between two reads and are not behaviour.
func shape(s string) string {
	b := []byte(s)
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		if b[i] >= '0' && b[i] <= '9' {
			for i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9' {
				i++
			}
			out = append(out, '#')
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// Target returns where a call to the function at addr lands now, for a
// task outside any transition: the newest patch's new function, or addr.
func (c *Core) Target(addr uint64) uint64 {
	fo := c.funcs[addr]
	if fo == nil || len(fo.stack) == 0 || fo.stack[0].nop {
		return addr
	}
	return fo.stack[0].NewFunc
}

// modulesNamed finds the modules of dir that the patch module ko names
// as klp objects (.klp.rela.NAME. sections or .klp.sym.NAME. symbols).
func modulesNamed(ko, dir string) []string {
	data, err := os.ReadFile(ko)
	if err != nil {
		return nil
	}
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(string(data), ".klp.sym."+n+".") || strings.Contains(string(data), ".klp.rela."+n+".") || strings.Contains(string(data), "\x00"+n+"\x00") {
			p := filepath.Join(dir, n, n+".ko")
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// readText runs one check in a fresh process.
func readText(m *machine.Machine, ch Check) (string, error) {
	var out string
	var res int64
	done := false
	_, err := m.Spawn("verify", func(u *machine.User) {
		defer u.Release(u.Mark())
		buf := u.Alloc(2048)
		if ch.Proc != "" {
			res = u.Syscall(6, u.CString(ch.Proc), buf, 2048)
		} else {
			res = u.Syscall(ch.Syscall, buf, 2048)
		}
		if res > 0 {
			out = string(u.Read(buf, uint64(res)))
		}
		done = true
	})
	if err != nil {
		return "", err
	}
	if err := m.RunUntil(func() bool { return done }, m.Now()+500_000_000); err != nil {
		return "", err
	}
	if !done {
		return "", fmt.Errorf("system call did not return")
	}
	if res < 0 {
		return "", fmt.Errorf("system call returned %d", res)
	}
	return out, nil
}

// VerifyLateModules proves the other order of a module patch: it boots
// opts.Vmlinux, loads the patch module first (its objects for absent
// modules wait), then loads the modules (opts.Modules, or those the patch
// names) so that the core patches each as it comes (late module
// patching); it checks their functions' calls land in the new functions,
// records the checks (Patched), unloads the modules and disables and
// unloads the patch. Before and After are left empty.
func VerifyLateModules(ko string, opts VerifyOptions) (*VerifyReport, error) {
	k, c, rep, fail, err := verifyStart(ko, &opts, " (modules loaded after the patch)")
	if err != nil {
		return nil, err
	}
	mods := opts.Modules
	if mods == nil {
		mods = modulesNamed(ko, filepath.Join(filepath.Dir(opts.Vmlinux), "modules"))
	}
	if len(mods) == 0 {
		return fail("the patch names no module to load after it")
	}
	p, lpName, err := enablePatch(k, c, ko, opts.Limit)
	if lpName != "" {
		rep.Module = lpName
	}
	if err != nil {
		return fail("%w", err)
	}
	rep.Patch, rep.Model = p.Name, p.Model
	var loaded []string
	for _, m := range mods {
		mod, err := k.LoadModule(m)
		if err != nil {
			return fail("loading %s after the patch: %w", m, err)
		}
		loaded = append(loaded, mod.Name)
	}
	if ok, err := c.WaitTransition(opts.Limit); err != nil || !ok {
		return fail("transition after the modules came did not complete (%w)", transitionErr(err))
	}
	if rep.Funcs, err = checkRedirected(k, c, p, true); err != nil {
		return fail("%w", err)
	}
	checks := opts.Checks
	if checks == nil {
		checks = append([]Check(nil), DefaultChecks...)
		for _, n := range loaded {
			checks = append(checks, Check{Name: "proc " + n, Proc: n})
		}
	}
	rep.Patched = map[string]string{}
	for _, ch := range checks {
		s, err := runCheck(k, ch)
		if err != nil {
			return fail("%s: %w", ch.Name, err)
		}
		rep.Patched[ch.Name] = s
	}
	for i := len(loaded) - 1; i >= 0; i-- {
		if err := k.Loader.Unload(loaded[i]); err != nil {
			return fail("unload %s: %w", loaded[i], err)
		}
	}
	if err := c.Disable(p.Name); err != nil {
		return fail("disable: %w", err)
	}
	if ok, err := c.WaitTransition(opts.Limit); err != nil || !ok {
		return fail("unpatching transition did not complete (%w)", transitionErr(err))
	}
	if rep.Drained, rep.DrainedTasks, err = waitOffModule(k.M, lpName, drainLimit); err != nil {
		return fail("%w", err)
	}
	if err := k.Loader.Unload(lpName); err != nil {
		return fail("unload: %w", err)
	}
	rep.Transitions = append(rep.Transitions, c.Reports...)
	rep.Console = k.M.Console()
	return rep, nil
}

// failFunc ends a verification with an error, keeping the console.
type failFunc func(format string, args ...any) (*VerifyReport, error)

// errTransitionLimit is why a transition did not complete when the
// machine ran without error until the time limit.
var errTransitionLimit = errors.New("still in progress at the time limit")

// errReturned is why a call through a function's old address did not
// enter the new code when the call itself succeeded.
var errReturned = errors.New("the call returned without entering it")

// transitionErr is why a transition did not complete: the machine's
// error, or errTransitionLimit.
func transitionErr(err error) error {
	if err == nil {
		return errTransitionLimit
	}
	return err
}

// verifyStart boots the running kernel with the livepatch core and starts
// the report of a verification of ko; what qualifies its errors.
func verifyStart(ko string, opts *VerifyOptions, what string) (*boot.Kernel, *Core, *VerifyReport, failFunc, error) {
	k, c, err := verifyBoot(opts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rep := &VerifyReport{Module: strings.TrimSuffix(filepath.Base(ko), ".ko")}
	fail := func(format string, args ...any) (*VerifyReport, error) {
		rep.Console = k.M.Console()
		return rep, fmt.Errorf("verify %s%s: %w", rep.Module, what, fmt.Errorf(format, args...))
	}
	return k, c, rep, fail, nil
}

// verifyBoot fills in the defaults of opts and boots the running kernel
// with the livepatch core.
func verifyBoot(opts *VerifyOptions) (*boot.Kernel, *Core, error) {
	if opts.Vmlinux == "" {
		return nil, nil, fmt.Errorf("verify: no vmlinux to boot")
	}
	if opts.CPUs == 0 {
		opts.CPUs = 2
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Limit == 0 {
		opts.Limit = 2_000_000_000
	}
	k, err := boot.BootVmlinux(opts.Vmlinux, boot.Options{CPUs: opts.CPUs, Seed: opts.Seed, CPUID: opts.CPUID, Console: opts.Console})
	if err != nil {
		return nil, nil, fmt.Errorf("verify: %w", err)
	}
	c, err := New(k)
	if err != nil {
		return nil, nil, fmt.Errorf("verify: %w", err)
	}
	return k, c, nil
}

// enablePatch loads a patch module and waits for its transition; it
// returns the patch and the module's name (known once it loaded).
func enablePatch(k *boot.Kernel, c *Core, ko string, limit uint64) (*Patch, string, error) {
	mod, err := k.LoadModule(ko)
	if err != nil {
		return nil, "", fmt.Errorf("load: %w", err)
	}
	if ok, err := c.WaitTransition(limit); err != nil || !ok {
		blocker, stack := c.Blocker()
		return nil, mod.Name, fmt.Errorf("transition did not complete in %d ns (%w): %s\n%s", limit, err, blocker, stack)
	}
	p := c.Patch(mod.Name)
	if p == nil || !p.Enabled {
		return nil, mod.Name, fmt.Errorf("module %s did not enable a live patch", mod.Name)
	}
	return p, mod.Name, nil
}

// checkRedirected lists the functions of a patch ("object:name -> new")
// and checks that calls to each patched one land in its new function;
// with allPatched, every object of the patch must be patched.
func checkRedirected(k *boot.Kernel, c *Core, p *Patch, allPatched bool) ([]string, error) {
	var funcs []string
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			if f.nop {
				continue
			}
			if allPatched && !o.Patched {
				return funcs, fmt.Errorf("object %s of the patch is not patched after its module loaded", o.DisplayName())
			}
			funcs = append(funcs, fmt.Sprintf("%s:%s -> %s", o.DisplayName(), f.OldName, k.M.Syms.Format(f.NewFunc)))
			if to := c.Target(f.OldAddr); o.Patched && to != f.NewFunc {
				return funcs, fmt.Errorf("calls to %s land in %s, not in %s", f.OldName, k.M.Syms.Format(to), k.M.Syms.Format(f.NewFunc))
			}
		}
	}
	return funcs, nil
}

// newCodeCounter counts entries into the new functions of a patch through
// ftrace ops on their fentry sites.
type newCodeCounter struct {
	k     *boot.Kernel
	funcs []*Func
	ops   []*ftrace.Ops
	n     []int
}

func countNewCode(k *boot.Kernel, p *Patch) (*newCodeCounter, error) {
	c := &newCodeCounter{k: k}
	for _, o := range p.Objs {
		if !o.Patched {
			continue
		}
		for _, f := range o.Funcs {
			if f.nop {
				continue
			}
			i := len(c.funcs)
			c.funcs = append(c.funcs, f)
			c.n = append(c.n, 0)
			ops := &ftrace.Ops{Name: "verify", Func: func(ip, parentIP uint64, regs *ftrace.Regs) { c.n[i]++ }}
			if err := k.Ftrace.Register(f.NewFunc, ops); err != nil {
				ops = nil // a new function without an fentry site cannot be counted
			}
			c.ops = append(c.ops, ops)
		}
	}
	return c, nil
}

// callUnreached records how each patched function's new code was seen
// to run: the entries counted during the checks, or, for a function the
// checks did not reach, a call through its old address. That call is
// stopped at the new function's entry: an IPMODIFY op there counts the
// entry and sends execution to a ret, so the function returns to its
// caller without running its body on a made-up argument. A function
// whose new code is never entered is an error. reasons are the stated
// reasons why no check reaches a function (VerifyOptions.NotReached).
func (c *newCodeCounter) callUnreached(limit uint64, reasons map[string]string) ([]FuncRun, error) {
	var out []FuncRun
	ret, err := c.k.M.Syms.Find("", "__fentry__", 0) // a bare ret
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	counted := append([]int(nil), c.n...) // before the calls below add to them
	for i, f := range c.funcs {
		run := FuncRun{Func: f.OldName, Entries: counted[i], Traceable: c.ops[i] != nil, Reason: reasons[f.OldName]}
		if !run.Traceable || run.BodyRan() {
			out = append(out, run)
			continue
		}
		entered := 0
		stop := &ftrace.Ops{Name: "verify-entry", Flags: ftrace.FlagIPModify, Func: func(ip, parentIP uint64, regs *ftrace.Regs) {
			entered++
			regs.IP = ret.Addr
		}}
		if err := c.k.Ftrace.Register(f.NewFunc, stop); err != nil {
			return out, fmt.Errorf("verify: %w", err)
		}
		_, callErr := c.k.M.CallKernel("verify/"+f.OldName, f.OldAddr, 0, limit)
		c.k.Ftrace.Unregister(f.NewFunc, stop)
		if entered == 0 {
			if callErr == nil {
				callErr = errReturned
			}
			return out, fmt.Errorf("calling %s through its old address did not enter the new code (%w)", c.k.M.Syms.Format(f.OldAddr), callErr)
		}
		run.Redirected = true
		out = append(out, run)
	}
	return out, nil
}

// drainLimit bounds the wait for tasks to leave a disabled patch's code
// in virtual ns: a task asleep in a forced function's new body (the
// bundled kernel's long_sleeper sleeps 10 s at a time) leaves it when it
// wakes.
const drainLimit = 30_000_000_000

// waitOffModule runs the machine until no task has a frame in module
// name's code, at most limit ns: the patch is disabled, so no new call
// enters it, but a task still inside a new function (one patched without
// the stack check, KPATCH_FORCE_UNSAFE) would return into freed memory if
// the module were unloaded now. It returns how long it waited and the
// names of the tasks it waited for.
func waitOffModule(m *machine.Machine, name string, limit uint64) (waited uint64, tasks []string, err error) {
	inModule := func() *machine.Task {
		for _, t := range m.Tasks() {
			if t.State == machine.Dead {
				continue
			}
			for i, a := range m.Stack(t).Reliable {
				if i > 0 {
					a-- // a return address: the call is before it
				}
				if s, _, _, ok := m.Syms.Lookup(a); ok && s.Object == name {
					return t
				}
			}
		}
		return nil
	}
	start := m.Now()
	seen := map[*machine.Task]bool{}
	err = m.RunUntil(func() bool {
		t := inModule()
		if t != nil && !seen[t] {
			seen[t] = true
			tasks = append(tasks, t.Comm)
		}
		return t == nil
	}, start+limit)
	if err != nil {
		return 0, tasks, err
	}
	if t := inModule(); t != nil {
		return 0, tasks, fmt.Errorf("%s still runs code of %s %d ns after the patch was disabled:\n%s", t, name, limit, m.FormatStack(t))
	}
	return m.Now() - start, tasks, nil
}

// stop removes the counting ops.
func (c *newCodeCounter) stop() {
	for i, ops := range c.ops {
		if ops != nil {
			c.k.Ftrace.Unregister(c.funcs[i].NewFunc, ops)
		}
	}
}
