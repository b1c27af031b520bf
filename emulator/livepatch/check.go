package livepatch

import (
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// The stack checks run as kernel code (kernel/livepatch/transition.c):
// the core writes a struct klp_check (the ranges no task may be in, the
// tasks to look at), calls the C function on the task that runs the
// transition, and reads the results. What they cost is the time their
// instructions took on the virtual clock.

// writeCheck fills the struct klp_check for ranges and pids, followed by
// its two arrays, and returns its address.
func (c *Core) writeCheck(ranges [][3]uint64, pids []int) (uint64, error) {
	need := uint64(abi.Sizeof_klp_check + 16*len(ranges) + 8*len(pids))
	if need > c.chkCap {
		size := (need*2 + mem.PageMask) &^ uint64(mem.PageMask)
		addr, err := c.M.AllocKernel(size, mem.PermRW)
		if err != nil {
			return 0, fmt.Errorf("livepatch: struct klp_check: %w", err)
		}
		c.chk, c.chkCap = addr, size
	}
	b := make([]byte, need)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	rOff := abi.Sizeof_klp_check
	pOff := rOff + 16*len(ranges)
	put(abi.Offsetof_klp_check_nr_ranges, uint64(len(ranges)))
	put(abi.Offsetof_klp_check_ranges, c.chk+uint64(rOff))
	put(abi.Offsetof_klp_check_nr_pids, uint64(len(pids)))
	put(abi.Offsetof_klp_check_pids, c.chk+uint64(pOff))
	if c.StackSeen != nil {
		put(abi.Offsetof_klp_check_flags, abi.KLP_CHECK_REPORT)
	}
	for i, r := range ranges {
		put(rOff+16*i, r[0])
		put(rOff+16*i+8, r[0]+max(r[1], 1))
	}
	for i, p := range pids {
		put(pOff+8*i, uint64(p))
	}
	if err := c.M.Mem.Poke(c.chk, b); err != nil {
		return 0, fmt.Errorf("livepatch: struct klp_check: %w", err)
	}
	return c.chk, nil
}

func (c *Core) checkField(off uint64) uint64 {
	v, _ := c.M.Mem.Read64(c.chk + off)
	return v
}

// livePIDs returns the pids of the tasks not dead, oldest first.
func (c *Core) livePIDs() []int {
	var pids []int
	for _, t := range c.M.Tasks() {
		if t.State != machine.Dead {
			pids = append(pids, t.PID)
		}
	}
	return pids
}

// noteBlocker records the task the last C check found blocking; verb is
// how a task on a function is described ("is busy in", "is sleeping on
// function").
func (c *Core) noteBlocker(verb string) string {
	tr := c.trans
	t := c.M.Task(int(int64(c.checkField(abi.Offsetof_klp_check_busy_pid))))
	if t == nil {
		tr.blocker, tr.blockerStack = "", ""
		return ""
	}
	switch c.checkField(abi.Offsetof_klp_check_busy_reason) {
	case abi.KLP_BUSY_RUNNING:
		tr.blocker, tr.blockerStack = fmt.Sprintf("%s is running", t), ""
	case abi.KLP_BUSY_UNRELIABLE:
		tr.blocker, tr.blockerStack = fmt.Sprintf("%s has an unreliable stack", t), c.M.FormatStack(t)
	default:
		tr.blocker = fmt.Sprintf("%s %s %s", t, verb, c.M.Syms.Format(c.checkField(abi.Offsetof_klp_check_busy_addr)))
		tr.blockerStack = c.M.FormatStack(t)
	}
	return tr.blocker
}

// watched runs the C check fn(arg) under a progress watch and keeps the
// longest CPU stall it saw in the transition's report.
func (c *Core) watched(call caller, fn, arg uint64) int64 {
	c.M.WatchProgress()
	ret := call(fn, arg)
	gap, _ := c.M.StopWatchProgress()
	if tr := c.trans; tr != nil {
		tr.report.CPUStall = max(tr.report.CPUStall, gap)
	}
	return ret
}

// stopMachineCheck runs kpatch's check: klp_stop_machine_check() stops
// every CPU, checks every task's stack and, if none is busy, switches
// every task before the CPUs go back to work. It returns what makes the
// system busy ("" if nothing does). The pause is the one stop_machine()
// measured.
func (c *Core) stopMachineCheck(call caller) string {
	tr := c.trans
	addr, err := c.writeCheck(c.checkRanges(), c.livePIDs())
	if err != nil {
		return err.Error()
	}
	ret := c.watched(call, c.stopCheckFn, addr)
	pause := c.checkField(abi.Offsetof_klp_check_pause_ns)
	tr.report.GlobalPause += pause
	tr.report.MaxTaskPause = max(tr.report.MaxTaskPause, pause)
	if ret == 0 {
		tr.blocker, tr.blockerStack = "", ""
		return ""
	}
	if busy := c.noteBlocker("is busy in"); busy != "" {
		return busy
	}
	return fmt.Sprintf("stop_machine failed: errno %d", -ret)
}

// tryComplete is klp_try_complete_transition for the per-task model: the
// C code holds, checks and switches every task not yet switched.
func (c *Core) tryComplete(call caller) bool {
	tr := c.trans
	tr.report.Tries++
	var pids []int
	for _, t := range c.M.Tasks() {
		if c.taskState(t) == tr.target {
			continue
		}
		if t.State == machine.Dead {
			tr.states[t] = tr.target
			continue
		}
		pids = append(pids, t.PID)
	}
	left := int64(0)
	if len(pids) > 0 {
		addr, err := c.writeCheck(c.checkRanges(), pids)
		if err != nil {
			c.printf("%v", err)
			return false
		}
		left = c.watched(call, c.tryCompleteFn, addr)
		tr.report.MaxTaskPause = max(tr.report.MaxTaskPause, c.checkField(abi.Offsetof_klp_check_max_hold_ns))
	}
	if left == 0 {
		tr.blocker, tr.blockerStack = "", ""
		return true
	}
	c.noteBlocker("is sleeping on function")
	return false
}

// countOnStacks is the reference-counting model's scan: the C code
// counts every frame of a function in transition on every task's stack
// and hooks its return (HC_KLP_REFCOUNT), so that it is counted out when
// it leaves. Entries during the scan are counted by the ftrace handler. A
// frame already hooked is not counted again, so a later scan (after a
// task could not be scanned) only adds what the earlier one missed. It
// reports whether every task was scanned (tr.unscanned says the same).
func (c *Core) countOnStacks(call caller) bool {
	tr := c.trans
	addr, err := c.writeCheck(c.checkRanges(), c.livePIDs())
	if err != nil {
		c.printf("%v", err)
		tr.unscanned = true
		return false
	}
	tr.scanning = true
	left := c.watched(call, c.countStacksFn, addr)
	tr.scanning = false
	tr.report.MaxTaskPause = max(tr.report.MaxTaskPause, c.checkField(abi.Offsetof_klp_check_max_hold_ns))
	tr.unscanned = left != 0
	if left != 0 {
		c.printf("'%s': %d tasks could not be scanned (%s), scanning again later", tr.patch.Name, left, c.noteBlocker("is in"))
	}
	return left == 0
}

// hcSwitch is HC_KLP_SWITCH(pid): the C check found nothing on the
// task's stack; it switches it (pid -1: every task, from inside
// stop_machine). A task that may have moved since (running on another
// CPU, not in user space) is refused.
func (c *Core) hcSwitch(m *machine.Machine, self *machine.Task, cp *cpu.CPU) (uint64, error) {
	tr := c.trans
	if tr == nil {
		return uint64(errno(errnoEINVAL)), nil
	}
	pid := int(int64(cp.Regs[cpu.RDI]))
	if pid == -1 {
		for t := range tr.states {
			tr.states[t] = tr.target
		}
		c.noteChange(nil)
		return 0, nil
	}
	t := m.Task(pid)
	if t == nil {
		return uint64(errno(errnoENOENT)), nil
	}
	if t.CPU() != nil && t != self && !t.InUser() {
		return uint64(errno(errnoEBUSY)), nil
	}
	tr.states[t] = tr.target
	c.noteChange(t)
	return 0, nil
}

// hcRefcount is HC_KLP_REFCOUNT(pid, slot, ret): the scan found a frame
// of a function in transition on a held task's stack, returning to ret
// through slot: count it and hook its return.
func (c *Core) hcRefcount(m *machine.Machine, self *machine.Task, cp *cpu.CPU) (uint64, error) {
	tr := c.trans
	t := m.Task(int(int64(cp.Regs[cpu.RDI])))
	slot, ret := cp.Regs[cpu.RSI], cp.Regs[cpu.RDX]
	if tr == nil || t == nil {
		return 0, nil
	}
	if ret == c.exitTramp {
		return 0, nil // hooked already, by the ftrace handler or an earlier scan
	}
	if v, err := m.Mem.Read64(slot); err != nil || v != ret {
		return 0, nil // hooked by the ftrace handler since the walk read it
	}
	if err := m.Mem.Write64(slot, c.exitTramp); err != nil {
		return 0, nil
	}
	tr.ret[t] = append(tr.ret[t], retEntry{slot: slot, orig: ret})
	tr.count++
	return 1, nil
}

// hcStackSeen is HC_KLP_STACK_SEEN(pid, entries, nr, reliable), issued
// for every stack walked when KLP_CHECK_REPORT is set.
func (c *Core) hcStackSeen(m *machine.Machine, self *machine.Task, cp *cpu.CPU) (uint64, error) {
	t := m.Task(int(int64(cp.Regs[cpu.RDI])))
	addr, nr := cp.Regs[cpu.RSI], cp.Regs[cpu.RDX]
	if c.StackSeen == nil || t == nil || nr > 1024 {
		return 0, nil
	}
	entries := make([]uint64, nr)
	for i := range entries {
		entries[i], _ = m.Mem.Read64(addr + 8*uint64(i))
	}
	c.StackSeen(t, entries, cp.Regs[cpu.R10] != 0)
	return 0, nil
}
