package livepatch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/ftrace"
	"github.com/kpatchgo/kpatch-build/emulator/loader"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

const (
	unpatched = 0
	patched   = 1
)

func opName(target int) string {
	if target == patched {
		return "patching"
	}
	return "unpatching"
}

// transition is the transition in progress (there is at most one).
type transition struct {
	patch  *Patch
	target int
	states map[*machine.Task]int
	report *Report
	// blocker describes the task that made the last attempt fail.
	blocker      string
	blockerStack string
	// failed counts the failed tries (Linux's klp_signals_cnt); the
	// worker tries again at nextTry.
	failed  int
	nextTry uint64
	// Reference counting.
	count    int
	switched bool
	scanning bool // the first scan runs: exits do not switch yet
	// unscanned: some task could not be scanned (it kept running on
	// another CPU); until a later scan covers every task, the count may
	// miss a frame, so the transition does not switch. The worker scans
	// again every RetryPeriod.
	unscanned bool
	ret       map[*machine.Task][]retEntry
}

type retEntry struct {
	slot, orig uint64
}

// taskState is a task's patch state: during a transition, unpatched or
// patched; outside one (or for a task created during it), the state the
// system is in.
func (c *Core) taskState(t *machine.Task) int {
	tr := c.trans
	if tr == nil {
		return patched
	}
	if s, ok := tr.states[t]; ok {
		return s
	}
	return tr.target
}

// TaskPatchState is /proc/PID/patch_state: -1 outside a transition, else
// 0 (unpatched) or 1 (patched).
func (c *Core) TaskPatchState(t *machine.Task) int {
	if c.trans == nil {
		return -1
	}
	return c.taskState(t)
}

func (c *Core) forFuncs(p *Patch, fn func(o *Object, f *Func)) {
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			fn(o, f)
		}
	}
}

// enable is klp_enable_patch, run on the task that called it.
func (c *Core) enable(t *machine.Task, addr uint64, call caller) int64 {
	mod := c.moduleOf(t, addr)
	name := "?"
	if mod != nil {
		name = mod.Name
	}
	if c.trans != nil {
		c.printf("'%s': another transition is in progress ('%s'): busy", name, c.trans.patch.Name)
		return errno(errnoEBUSY)
	}
	if p := c.Patch(name); p != nil && !p.Disabled {
		c.printf("'%s': already enabled", name)
		return errno(errnoEINVAL)
	}
	p, err := c.decode(addr, name)
	if err != nil {
		c.printf("'%s': invalid patch: %v", name, err)
		return errno(errnoEINVAL)
	}
	p.Mod = mod
	if !c.compatible(p) {
		c.printf("Livepatch patch (%s) is not compatible with the already installed livepatches.", p.Name)
		return errno(errnoEINVAL)
	}
	c.printf("enabling patch '%s'", p.Name)
	if p.Replace {
		c.addNops(p)
	}
	for _, o := range p.Objs {
		if !c.objLoaded(o) {
			continue
		}
		if err := c.initObject(p, o); err != nil {
			c.printf("'%s': %v", p.Name, err)
			c.printf("failed to enable patch '%s'", p.Name)
			return errno(errnoEINVAL)
		}
	}
	c.printf("'%s': initializing patching transition", p.Name)
	c.initTransition(p, patched)
	// Linux's __klp_enable_patch: per loaded object, its pre-patch
	// callback, then its functions onto the ftrace stacks; a failure
	// cancels the transition.
	cancel := func(why string, ret int64) int64 {
		c.printf("failed to enable patch '%s'", p.Name)
		c.printf("'%s': canceling patching transition, going to unpatch", p.Name)
		c.trans.target = unpatched
		c.trans.report.Err = why
		c.complete(call)
		return ret
	}
	for _, o := range p.Objs {
		if !c.objLoaded(o) {
			continue
		}
		if r := int32(c.callObj(call, o.PrePatch, o, ModuleStateLive)); r != 0 {
			c.printf("pre-patch callback failed for object '%s'", o.DisplayName())
			return cancel("pre-patch callback failed", int64(r))
		}
		o.postUnpatchEnabled = true
		if r := c.patchObject(o); r != 0 {
			c.printf("failed to patch object '%s'", o.DisplayName())
			return cancel("cannot patch object "+o.DisplayName(), r)
		}
	}
	p.Enabled = true
	c.patches = append(c.patches, p)
	if err := c.startTransition(call); err != nil {
		c.removePatch(p)
		for i, q := range c.gone {
			if q == p {
				c.gone = append(c.gone[:i:i], c.gone[i+1:]...)
				break
			}
		}
		c.printf("failed to enable patch '%s'", p.Name)
		return errno(errnoEBUSY)
	}
	return 0
}

// patchObject is klp_patch_object: every function of o goes onto its
// ftrace stack; on failure the functions already pushed are popped and
// the errno is returned.
func (c *Core) patchObject(o *Object) int64 {
	for _, f := range o.Funcs {
		if err := c.pushFunc(f); err != nil {
			r := errno(errnoEINVAL)
			if errors.Is(err, ftrace.ErrBusy) {
				r = errno(errnoEBUSY)
			}
			c.printf("failed to register ftrace handler for function '%s' (%d)", f.OldName, r)
			for _, g := range o.Funcs {
				c.popFunc(g)
			}
			return r
		}
	}
	o.Patched = true
	return 0
}

// initTransition is klp_init_transition: every task starts in the
// initial state, every function of the patch is in transition (unless it
// has the immediate flag).
func (c *Core) initTransition(p *Patch, target int) {
	tr := &transition{patch: p, target: target, states: map[*machine.Task]int{}, ret: map[*machine.Task][]retEntry{}}
	tr.report = &Report{Patch: p.Name, Model: p.Model, Op: opName(target), Start: c.M.Clock()}
	for _, t := range c.M.Tasks() {
		if t.State != machine.Dead {
			tr.states[t] = 1 - target
		}
	}
	tr.report.Tasks = len(tr.states)
	c.forFuncs(p, func(o *Object, f *Func) { f.transition = f.Flags&FuncImmediate == 0 })
	c.trans = tr
	c.noteChange(nil)
}

// startTransition starts the transition set up by initTransition and
// tries to complete it at once. Under stop_machine a busy system is an
// error and the transition is undone.
func (c *Core) startTransition(call caller) error {
	tr := c.trans
	p := tr.patch
	c.printf("'%s': starting %s transition", p.Name, opName(tr.target))
	switch p.Model {
	case Immediate:
		for t := range tr.states {
			tr.states[t] = tr.target
		}
		c.noteChange(nil)
		tr.report.Tries = 1
		c.complete(call)
	case StopMachine:
		tr.report.Tries = 1
		if busy := c.stopMachineCheck(call); busy != "" {
			c.printf("'%s': stop_machine: %s", p.Name, busy)
			c.M.Printf("%s", strings.TrimRight(tr.blockerStack, "\n"))
			err := fmt.Errorf("%s", busy)
			tr.report.Err = "busy: " + busy
			if tr.target == patched {
				c.printf("'%s': canceling patching transition, going to unpatch", p.Name)
				tr.target = unpatched
				c.complete(call)
			} else {
				c.abortUnpatch()
			}
			return err
		}
		for t := range tr.states {
			tr.states[t] = tr.target
		}
		c.noteChange(nil)
		c.complete(call)
	case Refcount:
		tr.report.Tries = 1
		c.startRefcount(call)
	default:
		if c.tryComplete(call) {
			c.complete(call)
		} else {
			c.retryLater()
			c.wakeWorker()
		}
	}
	return nil
}

// retryLater is what a failed try of the per-task model does (Linux's
// klp_try_complete_transition): after every SignalsTimeout failed tries
// the blocking tasks are signalled, and the worker tries again after
// RetryPeriod.
func (c *Core) retryLater() {
	tr := c.trans
	if tr.failed > 0 && tr.failed%SignalsTimeout == 0 {
		c.sendSignals()
	}
	tr.failed++
	tr.nextTry = c.M.Clock() + c.RetryPeriod
}

// startRefcount starts a reference-counting transition: the first scan,
// then the switch at once if nothing is inside the functions; if some
// task could not be scanned, the worker scans again later.
func (c *Core) startRefcount(call caller) {
	tr := c.trans
	if c.countOnStacks(call) && tr.count <= 0 && !tr.switched {
		c.switchAll()
		c.complete(call)
		return
	}
	if tr.unscanned {
		c.retryLater()
		c.wakeWorker()
	}
}

// abortUnpatch undoes a failed stop_machine unpatching transition: the
// patch stays enabled.
func (c *Core) abortUnpatch() {
	tr := c.trans
	c.forFuncs(tr.patch, func(o *Object, f *Func) { f.transition = false })
	tr.report.End = c.M.Clock()
	c.Reports = append(c.Reports, *tr.report)
	c.trans = nil
	c.noteChange(nil)
}

// checkFuncs returns the address ranges a task must not be in for the
// transition to switch it (Linux's klp_check_stack_func).
func (c *Core) checkRanges() [][3]uint64 {
	tr := c.trans
	var out [][3]uint64
	c.forFuncs(tr.patch, func(o *Object, f *Func) {
		if !f.patched || !f.transition || f.Flags&FuncForce != 0 {
			return
		}
		if tr.target == unpatched {
			out = append(out, [3]uint64{f.NewFunc, f.NewSize, f.OldAddr})
			return
		}
		// Patching: the function running now is the previous patch's
		// new function, or the original.
		fo := c.funcs[f.OldAddr]
		if fo != nil && len(fo.stack) > 1 && fo.stack[0] == f {
			prev := fo.stack[1]
			out = append(out, [3]uint64{prev.NewFunc, prev.NewSize, f.OldAddr})
			if !prev.nop {
				return
			}
		}
		out = append(out, [3]uint64{f.OldAddr, f.OldSize, f.OldAddr})
	})
	return out
}

// complete is klp_complete_transition.
func (c *Core) complete(call caller) {
	tr := c.trans
	p := tr.patch
	c.printf("'%s': completing %s transition", p.Name, opName(tr.target))
	var replaced []*Patch
	if tr.target == patched && p.Replace {
		for _, old := range c.patches {
			if old == p {
				continue
			}
			c.forFuncs(old, func(o *Object, f *Func) { c.popFunc(f) })
			for _, o := range old.Objs {
				o.Patched = false
			}
			old.Enabled, old.Disabled = false, true
			replaced = append(replaced, old)
		}
		// The nops have done their work.
		c.forFuncs(p, func(o *Object, f *Func) {
			if f.nop {
				c.popFunc(f)
			}
		})
	}
	if tr.target == unpatched {
		c.forFuncs(p, func(o *Object, f *Func) { c.popFunc(f) })
	}
	c.forFuncs(p, func(o *Object, f *Func) { f.transition = false })
	c.unhookReturns()
	c.trans = nil
	c.noteChange(nil)
	tr.report.End = c.M.Clock()
	if tr.report.Err == "" {
		tr.report.Completed = true
	}
	// The callbacks still see the replaced patches' states as the
	// previous ones (Linux frees those patches afterwards).
	c.completing = p
	for _, o := range p.Objs {
		if !c.objLoaded(o) {
			continue
		}
		if tr.target == patched {
			c.callObj(call, o.PostPatch, o, ModuleStateLive)
		} else {
			if o.postUnpatchEnabled {
				c.callObj(call, o.PostUnpatch, o, ModuleStateLive)
			}
			o.postUnpatchEnabled = false
			o.Patched = false
		}
	}
	c.completing = nil
	for _, old := range replaced {
		c.removePatch(old)
		c.gone = append(c.gone, old)
	}
	if tr.target == unpatched {
		p.Enabled, p.Disabled = false, true
		if c.removePatch(p) {
			c.gone = append(c.gone, p)
		}
	}
	c.printf("'%s': %s complete", p.Name, opName(tr.target))
	c.Reports = append(c.Reports, *tr.report)
}

func (c *Core) removePatch(p *Patch) bool {
	for i, q := range c.patches {
		if q == p {
			c.patches = append(c.patches[:i:i], c.patches[i+1:]...)
			return true
		}
	}
	return false
}

// work is the transition worker's job: retry, signal, complete.
func (c *Core) work(call caller) uint64 {
	tr := c.trans
	if tr == nil {
		return 0
	}
	if tr.patch.Model == Refcount {
		switch {
		case tr.switched:
			c.complete(call)
		case tr.unscanned:
			if now := c.M.Clock(); now < tr.nextTry {
				return tr.nextTry - now
			}
			tr.report.Tries++
			if c.countOnStacks(call) && tr.count <= 0 && !tr.switched {
				c.switchAll()
				c.complete(call)
				return 0
			}
			if tr.unscanned {
				c.retryLater()
				return c.RetryPeriod
			}
		}
		return 0
	}
	if now := c.M.Clock(); now < tr.nextTry {
		return tr.nextTry - now
	}
	if c.tryComplete(call) {
		c.complete(call)
		return 0
	}
	c.retryLater()
	return c.RetryPeriod
}

// sendSignals is klp_send_signals: every user task not yet switched
// gets a fake signal (it leaves an interruptible sleep and passes through
// user space, where it switches); kernel threads in an interruptible sleep
// are woken.
func (c *Core) sendSignals() {
	tr := c.trans
	if !tr.report.Signalled {
		c.printf("signaling remaining tasks")
	}
	tr.report.Signalled = true
	for _, t := range c.M.Tasks() {
		if t.State == machine.Dead || c.taskState(t) == tr.target {
			continue
		}
		switch t.Kind {
		case machine.KindUser:
			if _, err := c.M.SignalFake(t); err != nil {
				c.printf("%v", err)
			}
		case machine.KindKernel:
			// Linux wakes a kernel thread only from an interruptible
			// sleep (wake_up_state(task, TASK_INTERRUPTIBLE)).
			if t.State == machine.Sleeping && t != c.worker {
				if _, err := c.M.WakeState(t, abi.TASK_INTERRUPTIBLE); err != nil {
					c.printf("%v", err)
				}
			}
		}
	}
}

// trapSyscallReturn switches a task on its way back to user space.
func (c *Core) trapSyscallReturn(m *machine.Machine, t *machine.Task, cp *cpu.CPU) error {
	if tr := c.trans; tr != nil && tr.patch.Model == Hybrid {
		tr.states[t] = tr.target
		c.noteChange(t)
	}
	return nil
}

// --- reference counting ---------------------------------------------------

// countEntry counts an entry into a function in transition and hooks its
// return.
func (c *Core) countEntry(fo *funcOps, regs *ftrace.Regs) {
	tr := c.trans
	sp := regs.CPU.Regs[cpu.RSP] // -> return into the function (fentry call)
	slot := sp + 8               // -> return into the caller
	orig, err := c.M.Mem.Read64(slot)
	if err != nil {
		return
	}
	if err := c.M.Mem.Write64(slot, c.exitTramp); err != nil {
		return
	}
	tr.ret[regs.Task] = append(tr.ret[regs.Task], retEntry{slot: slot, orig: orig})
	tr.count++
}

// trapExit is the return of a counted function.
func (c *Core) trapExit(m *machine.Machine, t *machine.Task, cp *cpu.CPU) error {
	tr := c.trans
	if tr == nil {
		return fmt.Errorf("livepatch: return through the exit trampoline of %s with no transition", t)
	}
	rs := tr.ret[t]
	if len(rs) == 0 {
		return fmt.Errorf("livepatch: %s returned through the exit trampoline with no entry recorded", t)
	}
	e := rs[len(rs)-1]
	tr.ret[t] = rs[:len(rs)-1]
	cp.RIP = e.orig
	tr.count--
	c.noteExit()
	return nil
}

// noteExit switches the refcount transition when nothing is inside the
// functions any more; the worker completes it.
func (c *Core) noteExit() {
	tr := c.trans
	if tr.count <= 0 && !tr.switched && !tr.scanning && !tr.unscanned {
		c.switchAll()
		c.wakeWorker()
	}
}

// switchAll switches every task (the reference-counting model, once no
// task is inside a function in transition).
func (c *Core) switchAll() {
	tr := c.trans
	tr.switched = true
	for t := range tr.states {
		tr.states[t] = tr.target
	}
	c.noteChange(nil)
}

// unhookReturns restores hooked return addresses still pending (a
// forced or cancelled refcount transition).
func (c *Core) unhookReturns() {
	tr := c.trans
	if tr == nil {
		return
	}
	for _, rs := range tr.ret {
		for _, e := range rs {
			if v, err := c.M.Mem.Read64(e.slot); err == nil && v == c.exitTramp {
				_ = c.M.Mem.Write64(e.slot, e.orig)
			}
		}
	}
	tr.ret = map[*machine.Task][]retEntry{}
}

// --- the Go API -------------------------------------------------------------

// Disable disables an enabled patch (a reverse transition if its
// patching transition is still running).
func (c *Core) Disable(name string) error {
	if err := c.waitIdle(); err != nil {
		return err
	}
	p := c.Patch(name)
	switch {
	case p == nil:
		return fmt.Errorf("livepatch: no patch %s", name)
	case p.Disabled:
		return fmt.Errorf("livepatch: %s is already disabled", name)
	}
	if tr := c.trans; tr != nil {
		if tr.patch != p {
			return fmt.Errorf("livepatch: %s: another transition is in progress ('%s'): busy", name, tr.patch.Name)
		}
		if tr.target == unpatched {
			return fmt.Errorf("livepatch: %s: already being disabled", name)
		}
		return c.reverse()
	}
	c.printf("'%s': initializing unpatching transition", p.Name)
	c.initTransition(p, unpatched)
	for _, o := range p.Objs {
		if o.Patched {
			c.callObj(c.kernelCaller, o.PreUnpatch, o, ModuleStateLive)
		}
	}
	p.Enabled = false
	if err := c.startTransition(c.kernelCaller); err != nil {
		p.Enabled = true
		return fmt.Errorf("livepatch: %s: cannot disable: %w", name, err)
	}
	return nil
}

// reverse is klp_reverse_transition.
func (c *Core) reverse() error {
	tr := c.trans
	p := tr.patch
	c.printf("'%s': reversing transition from %s to %s", p.Name, opName(tr.target), opName(1-tr.target))
	tr.report.End = c.M.Clock()
	tr.report.Reversed = true
	tr.report.Err = "reversed"
	c.Reports = append(c.Reports, *tr.report)
	// Tasks created during the transition were in its target state;
	// they keep it.
	for _, t := range c.M.Tasks() {
		if _, ok := tr.states[t]; !ok && t.State != machine.Dead {
			tr.states[t] = tr.target
		}
	}
	tr.target = 1 - tr.target
	tr.report = &Report{Patch: p.Name, Model: p.Model, Op: opName(tr.target), Start: c.M.Clock(), Tasks: len(tr.states)}
	tr.failed = 0
	p.Enabled = tr.target == patched
	c.printf("'%s': starting %s transition", p.Name, opName(tr.target))
	if p.Model == Refcount {
		tr.switched = false
		c.unhookReturns()
		tr.count = 0
		c.startRefcount(c.kernelCaller)
		return nil
	}
	if c.tryComplete(c.kernelCaller) {
		c.complete(c.kernelCaller)
	} else {
		c.retryLater()
		c.wakeWorker()
	}
	return nil
}

// Force forces the transition in progress: every task is switched at
// once (klp_force_transition). The modules of the patches being removed
// (the patch an unpatching transition disables, the patches a replacing
// one replaces) can no longer be unloaded.
func (c *Core) Force() error {
	if err := c.waitIdle(); err != nil {
		return err
	}
	tr := c.trans
	if tr == nil {
		return fmt.Errorf("livepatch: no transition in progress")
	}
	c.printf("forcing remaining tasks to the %s state", map[int]string{patched: "patched", unpatched: "unpatched"}[tr.target])
	for t := range tr.states {
		tr.states[t] = tr.target
	}
	c.forcing = true
	c.noteChange(nil)
	tr.switched = true
	tr.report.Forced = true
	// Linux 6.x marks only the patches being removed: a task may still
	// run their code, so their modules must stay.
	if tr.target == unpatched {
		tr.patch.Forced = true
	} else if tr.patch.Replace {
		for _, p := range c.patches {
			if p != tr.patch {
				p.Forced = true
			}
		}
	}
	c.complete(c.kernelCaller)
	c.forcing = false
	return nil
}

// InTransition returns the patch in transition, or nil.
func (c *Core) InTransition() *Patch {
	if c.trans == nil {
		return nil
	}
	return c.trans.patch
}

// Blocker describes the task that made the last attempt of the
// transition in progress fail, and its stack.
func (c *Core) Blocker() (string, string) {
	if c.trans == nil {
		return "", ""
	}
	return c.trans.blocker, c.trans.blockerStack
}

// WaitTransition runs the machine until no transition is in progress, at
// most limit ns of virtual time; it reports whether none is.
func (c *Core) WaitTransition(limit uint64) (bool, error) {
	err := c.M.RunUntil(func() bool { return c.trans == nil && len(c.sessions) == 0 }, c.M.Now()+limit)
	return c.trans == nil, err
}

// --- late module patching ---------------------------------------------------

// moduleComing is klp_module_coming: the patches that change a module
// being loaded are applied to it before its init runs.
func (c *Core) moduleComing(mod *loader.Module) error {
	var done []*Object
	var donePatches []*Patch
	for _, p := range c.patches {
		for _, o := range p.Objs {
			if o.Name != mod.Name {
				continue
			}
			c.printf("applying patch '%s' to loading module '%s'", p.Name, mod.Name)
			err := c.initObject(p, o)
			if err == nil {
				if r := int32(c.callObj(c.kernelCaller, o.PrePatch, o, ModuleStateComing)); r != 0 {
					c.printf("pre-patch callback failed for object '%s'", o.DisplayName())
					err = fmt.Errorf("errno %d", r)
				}
			}
			if err == nil {
				o.postUnpatchEnabled = true
				for _, f := range o.Funcs {
					if err = c.pushFunc(f); err != nil {
						break
					}
					if c.trans != nil && c.trans.patch == p {
						f.transition = f.Flags&FuncImmediate == 0
					}
				}
			}
			if err != nil {
				c.printf("patch '%s' failed for module '%s', refusing to load module '%s'", p.Name, mod.Name, mod.Name)
				for _, f := range o.Funcs {
					c.popFunc(f)
				}
				for i := len(done) - 1; i >= 0; i-- {
					c.unpatchObject(donePatches[i], done[i])
				}
				return fmt.Errorf("livepatch: patch '%s' refused the module: %w", p.Name, err)
			}
			o.Patched = true
			if c.trans == nil || c.trans.patch != p {
				c.callObj(c.kernelCaller, o.PostPatch, o, ModuleStateComing)
			}
			done = append(done, o)
			donePatches = append(donePatches, p)
		}
	}
	return nil
}

func (c *Core) unpatchObject(p *Patch, o *Object) {
	isTrans := c.trans != nil && c.trans.patch == p
	if !isTrans {
		c.callObj(c.kernelCaller, o.PreUnpatch, o, ModuleStateGoing)
	}
	c.printf("reverting patch '%s' on unloading module '%s'", p.Name, o.Name)
	for _, f := range o.Funcs {
		c.popFunc(f)
	}
	o.Patched = false
	if o.postUnpatchEnabled {
		c.callObj(c.kernelCaller, o.PostUnpatch, o, ModuleStateGoing)
	}
	o.postUnpatchEnabled = false
}

// moduleRemovable refuses to unload a patch module whose patch is still
// enabled or was forced (Linux holds its module reference).
func (c *Core) moduleRemovable(mod *loader.Module) error {
	if err := c.waitIdle(); err != nil {
		return err
	}
	for _, p := range c.patches {
		if p.Mod == mod {
			return fmt.Errorf("in use: live patch '%s' is enabled (disable it first)", p.Name)
		}
	}
	for _, p := range c.gone {
		if p.Mod == mod && p.Forced {
			return fmt.Errorf("in use: live patch '%s' had a forced transition", p.Name)
		}
	}
	return nil
}

// moduleGoing is klp_module_going, after the module's exit function ran:
// the patches of the module are undone.
func (c *Core) moduleGoing(mod *loader.Module) error {
	if err := c.waitIdle(); err != nil {
		return err
	}
	for i, p := range c.gone {
		if p.Mod == mod {
			c.gone = append(c.gone[:i:i], c.gone[i+1:]...)
			break
		}
	}
	c.going = true
	for _, p := range c.patches {
		for _, o := range p.Objs {
			if o.Name == mod.Name && o.Patched {
				c.unpatchObject(p, o)
			}
		}
	}
	c.going = false
	c.noteChange(nil)
	return nil
}
