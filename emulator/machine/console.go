package machine

import (
	"fmt"
	"strings"
)

// consoleWrite appends b to the console, starting every line with the
// virtual time as printk does: "[    1.000123] ".
func (m *Machine) consoleWrite(at uint64, b []byte) {
	var out []byte
	for _, c := range b {
		if m.lineStart {
			out = fmt.Appendf(out, "[%5d.%06d] ", at/1e9, at%1e9/1e3)
			m.lineStart = false
		}
		out = append(out, c)
		if c == '\n' {
			m.lineStart = true
		}
	}
	m.console.Write(out)
	if m.cfg.Console != nil {
		m.cfg.Console.Write(out)
	}
}

// Printf writes a machine message to the console at the current time of
// v (or of the machine, when v is nil), one line at a time.
func (m *Machine) printf(v *VCPU, format string, args ...any) {
	at := m.now
	if v != nil {
		at = m.clock(v)
	}
	s := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if !m.lineStart {
		s = "\n" + s
	}
	m.consoleWrite(at, []byte(s))
}

// Printf writes a line to the console, stamped with the machine's time.
func (m *Machine) Printf(format string, args ...any) { m.printf(nil, format, args...) }

// Console returns everything written to the console so far.
func (m *Machine) Console() string { return m.console.String() }

// ConsoleLen returns the console's length in bytes, to pass to
// ConsoleSince later.
func (m *Machine) ConsoleLen() int { return m.console.Len() }

// ConsoleSince returns what was written to the console after it was n
// bytes long.
func (m *Machine) ConsoleSince(n int) string {
	s := m.console.String()
	if n > len(s) {
		return ""
	}
	return s[n:]
}
