package machine

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/target/cpu"
)

// InterruptSyscall delivers a fake signal to a user process asleep in a
// system call: the call is abandoned (its kernel stack is dropped), the
// process is back in user space and will issue the same call again, as
// a signal that interrupts a restartable sleep does in Linux
// (-ERESTART_RESTARTBLOCK). The livepatch core uses it to move sleeping
// tasks through the user-space boundary. Only calls that hold nothing
// while they sleep (such as nanosleep) may be interrupted this way; the
// caller checks.
func (m *Machine) InterruptSyscall(t *Task) error {
	if t.user == nil || t.inUser || t.State != Sleeping {
		return fmt.Errorf("machine: %s is not a user process asleep in a system call", t)
	}
	t.deadline = 0
	t.inHypercall = 0
	t.wakePending = false
	t.ctx = cpu.Context{RFLAGS: 0x2}
	t.inUser = true
	t.user.again = true
	m.makeRunnable(t)
	return nil
}
