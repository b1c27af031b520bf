package machine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/cpu"
)

// StackTrace is a task's kernel stack from both unwinders. Both lists
// start with the task's instruction pointer, followed by return
// addresses, innermost first.
type StackTrace struct {
	// Reliable comes from the shadow call stack.
	Reliable []uint64
	// FP comes from the frame-pointer walk.
	FP []uint64
	// FPReliable says the frame-pointer walk ended properly (a zero
	// frame pointer) and the task is stopped right after a vmcall (asleep
	// or in a hypercall), where every frame is set up; see
	// stoppedAtHypercall.
	FPReliable bool
	// InUser is true for a user process between system calls (no kernel
	// stack).
	InUser bool
}

// Agree reports whether the two unwinders give the same addresses.
func (s StackTrace) Agree() bool { return slices.Equal(s.Reliable, s.FP) }

// Stack unwinds t's kernel stack with both unwinders.
func (m *Machine) Stack(t *Task) StackTrace {
	if t.InUser() || t.State == Dead && !t.Killed {
		return StackTrace{InUser: t.InUser(), FPReliable: true}
	}
	ctx := t.Context()
	st := StackTrace{Reliable: append([]uint64{ctx.RIP}, cpu.ReturnAddresses(ctx.Shadow)...)}
	rets, ok := cpu.WalkFramePointers(m.Mem, ctx.Regs[cpu.RBP], t.StackLo, t.StackHi, 64)
	st.FP = append([]uint64{ctx.RIP}, rets...)
	st.FPReliable = ok && m.stoppedAtHypercall(ctx.RIP)
	return st
}

// stoppedAtHypercall reports whether rip follows a vmcall: the task is
// blocked in (or returning from) a hypercall, at a point where every
// function on its stack has its frame set up. Kernel code leaves its CPU
// only at such points (voluntary preemption), so this holds for every
// task not running; a running task, looked at from outside, may be at an
// arbitrary instruction: in a prologue or epilogue, or in code gcc
// shrink-wrapped before setting up its frame, where a frame-pointer walk
// misses the caller, so its walk is not reliable (as in Linux).
func (m *Machine) stoppedAtHypercall(rip uint64) bool {
	var b [cpu.VMCallLen]byte
	return m.Mem.Peek(rip-cpu.VMCallLen, b[:]) == nil && b == cpu.VMCall
}

// IsSubsequence reports whether sub's addresses appear in s in order
// (a frame-pointer walk may miss frames but never invents one).
func IsSubsequence(sub, s []uint64) bool {
	i := 0
	for _, a := range s {
		if i < len(sub) && sub[i] == a {
			i++
		}
	}
	return i == len(sub)
}

// FormatStack prints t's stack symbolized, one "func+0xoff/0xsize" per
// line, from the shadow stack; a line "(frame-pointer walk differs)"
// follows when the walk claims reliability and disagrees.
func (m *Machine) FormatStack(t *Task) string {
	st := m.Stack(t)
	var b strings.Builder
	if st.InUser {
		b.WriteString("  (in user space)\n")
		return b.String()
	}
	for i, a := range st.Reliable {
		fmt.Fprintf(&b, "  %s\n", m.formatFrame(i, a))
	}
	if st.FPReliable && !st.Agree() {
		b.WriteString("  (frame-pointer walk differs:")
		for i, a := range st.FP {
			fmt.Fprintf(&b, " %s", m.formatFrame(i, a))
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// FormatTasks lists every live task with its state, CPU and stack.
func (m *Machine) FormatTasks() string {
	var b strings.Builder
	for _, t := range m.tasks {
		if t.State == Dead {
			continue
		}
		where := "-"
		if t.cpu != nil {
			where = fmt.Sprint(t.cpu.ID)
		}
		fmt.Fprintf(&b, "%5d %-16s %-7s %s cpu %s\n", t.PID, t.Comm, t.Kind, t.State, where)
		b.WriteString(m.FormatStack(t))
	}
	return b.String()
}

// formatFrame symbolizes entry i of a stack: the instruction pointer
// (i == 0) as is, return addresses as %pB does.
func (m *Machine) formatFrame(i int, a uint64) string {
	if i == 0 {
		return m.Syms.Format(a)
	}
	return m.Syms.FormatReturn(a)
}

// BranchFunc observes a call or return instruction executed by task t
// (see cpu.BranchFunc).
type BranchFunc func(t *Task, kind cpu.BranchKind, from, to uint64)

// OnBranch makes fn see every call and ret instruction any CPU executes,
// with the task that executed it (nil: none). Consistency checkers use it
// to watch which code each task runs.
func (m *Machine) OnBranch(fn BranchFunc) {
	for _, v := range m.cpus {
		if fn == nil {
			v.CPU.SetBranchHook(nil)
			continue
		}
		v.CPU.SetBranchHook(func(k cpu.BranchKind, from, to uint64) { fn(v.cur, k, from, to) })
	}
}
