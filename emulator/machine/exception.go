package machine

import (
	"errors"
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// exception handles a CPU exception raised by t on v: a WARN continues
// after the ud2, a fault with an __ex_table entry continues at the fixup,
// anything else is an oops that kills the task.
func (m *Machine) exception(v *VCPU, t *Task, err error) {
	var exc *cpu.Exception
	if !errors.As(err, &exc) {
		m.stop(fmt.Errorf("CPU %d: %s: %w", v.ID, t, err))
		return
	}
	c := v.CPU
	switch exc.Vector {
	case cpu.VectorUD:
		b, ok := m.FindBug(exc.RIP)
		if ok && b.Flags&abi.BUGFLAG_WARNING != 0 {
			c.RIP = exc.RIP + 2
			if b.Flags&abi.BUGFLAG_ONCE != 0 {
				if b.Flags&abi.BUGFLAG_DONE != 0 {
					return
				}
				_ = m.Mem.Poke(b.Entry+abi.Offsetof_bug_entry_flags, []byte{byte(b.Flags | abi.BUGFLAG_DONE), byte((b.Flags | abi.BUGFLAG_DONE) >> 8)})
			}
			m.warnCount++
			if b.Flags&abi.BUGFLAG_NO_CUT_HERE == 0 {
				m.printf(v, "------------[ cut here ]------------")
			}
			m.printf(v, "WARNING: CPU: %d PID: %d at %s:%d %s", v.ID, t.PID, b.File, b.Line, m.Syms.Format(exc.RIP))
			m.report(v, t, exc.RIP)
			m.printf(v, "---[ end trace %016x ]---", 0)
			return
		}
		m.oopsCount++
		m.printf(v, "------------[ cut here ]------------")
		if ok {
			m.printf(v, "kernel BUG at %s:%d!", b.File, b.Line)
		}
		m.printf(v, "invalid opcode: 0000 [#%d] SMP", m.oopsCount)
	case cpu.VectorPF:
		if fix, ok := m.FindFixup(exc.RIP); ok {
			c.RIP = fix
			return
		}
		m.oopsCount++
		if exc.Addr < mem.PageSize {
			m.printf(v, "BUG: kernel NULL pointer dereference, address: %016x", exc.Addr)
		} else {
			m.printf(v, "BUG: unable to handle page fault for address: %016x", exc.Addr)
		}
		m.printf(v, "#PF: supervisor %s access in kernel mode", map[mem.Access]string{mem.AccessRead: "read", mem.AccessWrite: "write", mem.AccessExec: "instruction fetch"}[exc.Access])
		m.printf(v, "Oops: %04x [#%d] SMP", exc.ErrorCode(), m.oopsCount)
	case cpu.VectorDE:
		m.oopsCount++
		m.printf(v, "divide error: 0000 [#%d] SMP", m.oopsCount)
	default:
		m.oopsCount++
		m.printf(v, "%v: 0000 [#%d] SMP", exc.Vector, m.oopsCount)
	}
	m.report(v, t, exc.RIP)
	m.printf(v, "---[ end trace %016x ]---", 0)
	if t.Kind == KindIdle {
		m.stop(fmt.Errorf("oops in the idle task of CPU %d: %w", v.ID, exc))
		return
	}
	t.Killed = true
	m.exit(t, -1)
}

// report prints the "CPU/RIP/Call Trace" part of a WARNING or an oops.
func (m *Machine) report(v *VCPU, t *Task, rip uint64) {
	m.printf(v, "CPU: %d PID: %d Comm: %s", v.ID, t.PID, t.Comm)
	m.printf(v, "RIP: 0010:%s", m.Syms.Format(rip))
	st := m.Stack(t)
	m.printf(v, "Call Trace:")
	m.printf(v, " <TASK>")
	for _, a := range st.Reliable[1:] {
		m.printf(v, " %s", m.Syms.FormatReturn(a))
	}
	m.printf(v, " </TASK>")
}
