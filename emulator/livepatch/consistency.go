package livepatch

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// The consistency checker states what a consistency model promises as a
// property of the code the machine executes, and checks it on every call
// and return instruction (machine.OnBranch), independently of the
// mechanisms that are supposed to ensure it (the ftrace handler, the C
// stack checks, the switch points):
//
//   - every task runs, of each patched function, the version its own
//     patch state selects: before its switch the code it ran when the
//     transition started, after it the code the transition installs
//     (rules "new-before-switch", "old-after-switch", and "removed-code"
//     for the body of a patch that is no longer on the function's stack);
//   - no task's call chain holds the new code of a patch and the code
//     that patch replaces at once ("mixed-chain");
//   - when a task's version of a function changes (its switch, a
//     completed transition), neither its instruction pointer nor a return
//     address on its stack is in the version it leaves: a check that
//     switched it did not consider that frame ("switched-inside").
//
// A version's body is the function without its fentry site: every call
// of the function executes the site of the original, whichever version
// then runs. Switches the model does not promise to make safely (the
// immediate model, the per-function immediate and force flags, a forced
// transition, a module going away) are recorded as waived: executing the
// left version afterwards is then expected, and reported by Waived, not
// by Err.

// Violation is one breach of the consistency property.
type Violation struct {
	// Time is the virtual time it was seen.
	Time uint64
	// Task is the task, as "comm[pid]".
	Task string
	// Rule is new-before-switch, old-after-switch, removed-code,
	// mixed-chain or switched-inside.
	Rule string
	// What describes it.
	What string
	// Waiver says why the model does not promise to prevent it ("" for
	// a real violation).
	Waiver string
}

// String renders the violation in one line.
func (v Violation) String() string {
	s := fmt.Sprintf("%d ns: %s: %s: %s", v.Time, v.Task, v.Rule, v.What)
	if v.Waiver != "" {
		s += " (waived: " + v.Waiver + ")"
	}
	return s
}

// ErrInconsistent is what Checker.Err wraps.
var ErrInconsistent = errors.New("live patching was not consistent")

// maxKept is how many violations of each kind (real, waived) a checker
// keeps; it counts all of them.
const maxKept = 64

// version is one version of a patched function: the original, or a
// patch's new function.
type version struct {
	lo, hi uint64 // the body: the function without its fentry site
	fn     uint64 // the original function's address
	f      *Func  // nil for the original
	name   string
}

func (v *version) String() string { return v.name }

// Checker watches the machine for breaches of the consistency property;
// see Core.Check.
type Checker struct {
	c *Core
	// versions by body, sorted; lo and hi bound them all.
	versions []*version
	lo, hi   uint64
	orig     map[uint64]*version // by the original function's address
	byFunc   map[*Func]*version
	owner    map[*Func]*Patch
	// exp is the version each task was last known to run, per function.
	exp map[*machine.Task]map[uint64]*version
	// grace: versions a task may still run after a waived switch.
	grace map[*machine.Task]map[*version]string

	violations, waived   []Violation
	nViolations, nWaived int
	executions           uint64
}

// Check attaches a consistency checker to the core (once; later calls
// return the same checker). From then on every call and return the
// machine executes is checked.
func (c *Core) Check() *Checker {
	if c.checker != nil {
		return c.checker
	}
	k := &Checker{c: c, orig: map[uint64]*version{}, byFunc: map[*Func]*version{}, owner: map[*Func]*Patch{},
		exp: map[*machine.Task]map[uint64]*version{}, grace: map[*machine.Task]map[*version]string{}}
	c.checker = k
	k.changed(nil)
	c.M.OnBranch(k.branch)
	return k
}

// Violations returns the violations seen (at most 64 are kept; Count
// says how many there were).
func (k *Checker) Violations() []Violation { return k.violations }

// Waived returns the breaches the models do not promise to prevent,
// seen so far (at most 64 kept).
func (k *Checker) Waived() []Violation { return k.waived }

// Count returns the number of violations and of waived breaches seen.
func (k *Checker) Count() (violations, waived int) { return k.nViolations, k.nWaived }

// Executions returns how many times a task was seen executing the body
// of a version of a patched function (the checks made).
func (k *Checker) Executions() uint64 { return k.executions }

// Err returns an error listing the violations, or nil.
func (k *Checker) Err() error {
	if k.nViolations == 0 {
		return nil
	}
	var b strings.Builder
	for _, v := range k.violations {
		b.WriteString("\n\t" + v.String())
	}
	if k.nViolations > len(k.violations) {
		fmt.Fprintf(&b, "\n\t... %d more", k.nViolations-len(k.violations))
	}
	return fmt.Errorf("%w: %d violations:%s", ErrInconsistent, k.nViolations, b.String())
}

func (k *Checker) report(t *machine.Task, rule, what, waiver string) {
	v := Violation{Time: k.c.M.Clock(), Task: t.String(), Rule: rule, What: what, Waiver: waiver}
	if waiver != "" {
		k.nWaived++
		if len(k.waived) < maxKept {
			k.waived = append(k.waived, v)
		}
		return
	}
	k.nViolations++
	if len(k.violations) < maxKept {
		k.violations = append(k.violations, v)
	}
}

// body returns the body of the function at addr of size bytes: from the
// end of its fentry site, if it has one.
func (k *Checker) body(addr, size uint64) (uint64, uint64) {
	lo := addr
	if site, err := k.c.K.Ftrace.SiteOf(addr); err == nil {
		lo = site + 5
	}
	return lo, addr + max(size, 1)
}

// rebuild refreshes the versions known: the originals of the functions
// with an ftrace stack, and every patch's new functions while its module
// is loaded (a task may still run the code of a patch that was removed).
func (k *Checker) rebuild() {
	c := k.c
	live := func(p *Patch) bool {
		return p.Mod == nil || c.K.Loader.Module(p.Name) == p.Mod
	}
	for _, list := range [][]*Patch{c.patches, c.gone} {
		for _, p := range list {
			c.forFuncs(p, func(o *Object, f *Func) { k.owner[f] = p })
		}
	}
	if c.trans != nil {
		c.forFuncs(c.trans.patch, func(o *Object, f *Func) { k.owner[f] = c.trans.patch })
	}
	for fn, fo := range c.funcs {
		if _, ok := k.orig[fn]; !ok && len(fo.stack) > 0 {
			f := fo.stack[0]
			lo, hi := k.body(fn, f.OldSize)
			k.orig[fn] = &version{lo: lo, hi: hi, fn: fn, name: f.OldName}
		}
		for _, f := range fo.stack {
			if _, ok := k.byFunc[f]; !ok && !f.nop && f.NewFunc != 0 {
				lo, hi := k.body(f.NewFunc, f.NewSize)
				name := c.M.Syms.Format(f.NewFunc)
				if s, _, _, ok := c.M.Syms.Lookup(f.NewFunc); ok && k.owner[f] != nil {
					name = s.Name + " [" + k.owner[f].Name + "]"
				}
				k.byFunc[f] = &version{lo: lo, hi: hi, fn: fn, f: f, name: name}
			}
		}
	}
	for f := range k.byFunc {
		if p := k.owner[f]; p != nil && !live(p) {
			delete(k.byFunc, f)
			delete(k.owner, f)
		} else if p == nil && !f.patched {
			delete(k.byFunc, f)
		}
	}
	for fn, v := range k.orig {
		// A module's function goes with its module.
		if s, _, _, ok := c.M.Syms.Lookup(fn); !ok || s.Name != v.name {
			delete(k.orig, fn)
		}
	}
	k.versions = k.versions[:0]
	for _, v := range k.orig {
		k.versions = append(k.versions, v)
	}
	for _, v := range k.byFunc {
		k.versions = append(k.versions, v)
	}
	sort.Slice(k.versions, func(i, j int) bool { return k.versions[i].lo < k.versions[j].lo })
	k.lo, k.hi = ^uint64(0), 0
	for _, v := range k.versions {
		k.lo, k.hi = min(k.lo, v.lo), max(k.hi, v.hi)
	}
}

// find returns the version whose body holds addr, or nil.
func (k *Checker) find(addr uint64) *version {
	if addr < k.lo || addr >= k.hi {
		return nil
	}
	vs := k.versions
	i := sort.Search(len(vs), func(i int) bool { return vs[i].hi > addr })
	if i < len(vs) && vs[i].lo <= addr {
		return vs[i]
	}
	return nil
}

// expected returns the version of the function at fn that task t must
// run now, as the consistency model defines it: the newest patch on the
// function's stack, except during a transition of that patch for a task
// still in the unpatched state, which runs the one below.
func (k *Checker) expected(t *machine.Task, fn uint64) *version {
	c := k.c
	fo := c.funcs[fn]
	if fo == nil || len(fo.stack) == 0 {
		return k.orig[fn]
	}
	i := 0
	if fo.stack[0].transition && c.trans != nil && c.taskState(t) == unpatched {
		i = 1
	}
	if i >= len(fo.stack) || fo.stack[i].nop {
		return k.orig[fn]
	}
	if v := k.byFunc[fo.stack[i]]; v != nil {
		return v
	}
	return k.orig[fn]
}

// rank orders the versions of a function, newest first: its position on
// the function's stack, the original last, a removed patch's code -1.
func (k *Checker) rank(v *version) int {
	fo := k.c.funcs[v.fn]
	if v.f == nil {
		if fo == nil {
			return 0
		}
		return len(fo.stack)
	}
	if fo != nil {
		for i, f := range fo.stack {
			if f == v.f {
				return i
			}
		}
	}
	return -1
}

// branch is the machine's branch hook.
func (k *Checker) branch(t *machine.Task, kind cpu.BranchKind, from, to uint64) {
	if t == nil || (from < k.lo || from >= k.hi) && (to < k.lo || to >= k.hi) {
		return
	}
	vf, vt := k.find(from), k.find(to)
	if vf != nil {
		k.ran(t, vf)
	}
	if vt != nil && vt != vf {
		k.ran(t, vt)
	}
	if kind == cpu.BranchCall && (vf != nil || vt != nil) {
		k.chain(t)
	}
}

// ran checks that t may execute v.
func (k *Checker) ran(t *machine.Task, v *version) {
	k.executions++
	exp := k.expected(t, v.fn)
	if v == exp {
		return
	}
	waiver := k.grace[t][v]
	state := "patched"
	if k.c.taskState(t) == unpatched && k.c.trans != nil {
		state = "unpatched"
	}
	rule := "old-after-switch"
	switch r, re := k.rank(v), k.rank(exp); {
	case r < 0:
		rule = "removed-code"
	case r < re:
		rule = "new-before-switch"
	}
	k.report(t, rule, fmt.Sprintf("ran %s (%s), but its patch state (%s) selects %s", v, k.c.M.Syms.Format(v.lo), state, exp), waiver)
}

// sides says, for a version, which patches it is the new code of (side
// 1) and which it is the replaced code of (side 0).
func (k *Checker) sides(v *version, out map[*Patch]uint8, graced map[*Patch]string, t *machine.Task) {
	fo := k.c.funcs[v.fn]
	if fo == nil {
		return
	}
	g := k.grace[t][v]
	for i, f := range fo.stack {
		p := k.owner[f]
		if p == nil {
			continue
		}
		below := k.orig[v.fn]
		if i+1 < len(fo.stack) && !fo.stack[i+1].nop {
			below = k.byFunc[fo.stack[i+1]]
		}
		switch {
		case k.byFunc[f] == v && !f.nop:
			out[p] |= 2
		case below == v:
			out[p] |= 1
		default:
			continue
		}
		if g != "" {
			graced[p] = g
		}
	}
}

// chain checks that t's call chain (its shadow stack and its instruction
// pointer) does not mix the new code of a patch with the code it
// replaces.
func (k *Checker) chain(t *machine.Task) {
	ctx := t.Context()
	side := map[*Patch]uint8{}
	graced := map[*Patch]string{}
	if v := k.find(ctx.RIP); v != nil {
		k.sides(v, side, graced, t)
	}
	for _, fr := range ctx.Shadow {
		if v := k.find(fr.Ret); v != nil {
			k.sides(v, side, graced, t)
		}
	}
	for p, s := range side {
		if s == 3 {
			k.report(t, "mixed-chain", fmt.Sprintf("its call chain holds the new code of patch '%s' and code it replaces: %s",
				p.Name, k.stack(t)), graced[p])
		}
	}
}

// stack is t's stack in one line, innermost first.
func (k *Checker) stack(t *machine.Task) string {
	return strings.Join(strings.Fields(k.c.M.FormatStack(t)), " <- ")
}

// inside reports where t is in v: "%rip" or "a return address", or "".
func (k *Checker) inside(t *machine.Task, v *version) string {
	ctx := t.Context()
	if ctx.RIP >= v.lo && ctx.RIP < v.hi {
		return "%rip"
	}
	for _, fr := range ctx.Shadow {
		if fr.Ret >= v.lo && fr.Ret < v.hi {
			return "a return address"
		}
	}
	return ""
}

// waiver says why the core may change the version a task runs from a
// to b without a check: "" when the model promises it is safe.
func (k *Checker) waiver(a, b *version) string {
	c := k.c
	switch {
	case c.forcing:
		return "forced transition"
	case c.going:
		return "module going"
	}
	for _, v := range []*version{a, b} {
		if v == nil || v.f == nil {
			continue
		}
		switch {
		case v.f.Flags&FuncImmediate != 0:
			return "immediate flag"
		case v.f.Flags&FuncForce != 0:
			return "force flag"
		}
		if p := k.owner[v.f]; p != nil && p.Model == Immediate {
			return "immediate model"
		}
	}
	return ""
}

// changed is called by the core after anything that may change the
// version a task runs (a switch, a function pushed or popped, a
// transition started, completed, reversed or forced): for t (nil: every
// task) and every patched function, a change of version while the task
// is inside the version it leaves is a violation, or, if waived, lets
// the task go on running it.
func (k *Checker) changed(t *machine.Task) {
	if t == nil {
		k.rebuild()
	}
	tasks := []*machine.Task{t}
	if t == nil {
		tasks = k.c.M.Tasks()
	}
	for _, t := range tasks {
		if t.State == machine.Dead {
			delete(k.exp, t)
			delete(k.grace, t)
			continue
		}
		m := k.exp[t]
		if m == nil {
			m = map[uint64]*version{}
			k.exp[t] = m
		}
		for fn, o := range k.orig {
			cur := k.expected(t, fn)
			prev, ok := m[fn]
			if !ok {
				prev = o
			}
			m[fn] = cur
			if prev == cur || prev == nil {
				continue
			}
			where := k.inside(t, prev)
			if where == "" {
				continue
			}
			w := k.waiver(prev, cur)
			if w != "" {
				if k.grace[t] == nil {
					k.grace[t] = map[*version]string{}
				}
				k.grace[t][prev] = w
			}
			k.report(t, "switched-inside", fmt.Sprintf("switched from %s to %s with %s in %s (the check did not consider it): %s",
				prev, cur, where, prev, k.stack(t)), w)
		}
	}
}

// noteChange tells the checker, if any, that t's versions (nil: every
// task's) may have changed.
func (c *Core) noteChange(t *machine.Task) {
	if c.checker != nil {
		c.checker.changed(t)
	}
}
