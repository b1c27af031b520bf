package machine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/target/cpu"
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
	// frame pointer) and the task was not stopped inside a function's
	// prologue or epilogue, where a walk misses a caller.
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
	st.FPReliable = ok && !m.inPrologue(ctx.RIP)
	return st
}

// inPrologue reports whether rip is where a frame-pointer walk is not
// trustworthy: before "mov %rsp,%rbp" of its function, at a ret, or right
// after the frame was torn down (pop %rbp or leave).
func (m *Machine) inPrologue(rip uint64) bool {
	s, off, _, ok := m.Syms.Lookup(rip)
	if !ok {
		return true
	}
	var code [16]byte
	if m.Mem.Peek(s.Addr, code[:]) != nil {
		return true
	}
	i := 0
	if code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa {
		i = 4 // endbr64
	}
	if [5]byte(code[i:i+5]) == Nop5 || code[i] == 0xe8 {
		i += 5 // the __fentry__ site
	}
	if code[i] == 0x55 && code[i+1] == 0x48 && code[i+2] == 0x89 && code[i+3] == 0xe5 {
		if off < uint64(i+4) {
			return true
		}
	}
	var at [1]byte
	if m.Mem.Peek(rip, at[:]) == nil && at[0] == 0xc3 {
		return true
	}
	var prev [1]byte
	if m.Mem.Peek(rip-1, prev[:]) == nil && (prev[0] == 0x5d || prev[0] == 0xc9) && off > 0 {
		return true
	}
	return false
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
