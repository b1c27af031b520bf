package machine

import (
	"fmt"
	"iter"

	"github.com/kpatchgo/kpatch-build/emulator/cpu"
	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Script is the program of a user process: Go code that issues system
// calls through u. It runs as a coroutine of the machine: each Syscall
// suspends it until the kernel has answered.
type Script func(u *User)

// User is a running user process as its script sees it.
type User struct {
	// Task is the process's task.
	Task *Task
	// Base and Size bound the process's user memory.
	Base, Size uint64

	m     *Machine
	brk   uint64
	ret   int64
	yield func(call) bool
	next  func() (call, bool)
	stopf func()
	spin  uint64
	last  call // the last system call issued
	again bool // issue last again (the call was interrupted)
}

type call struct {
	nr   uint64
	args [3]uint64
	spin uint64 // > 0: burn this many instructions in user space
}

type stopSignal struct{}

// Spawn creates a user process named comm running script, and puts it on
// the run queue. Its user memory (UserRegionSize bytes) is mapped
// read-write at a fresh address.
func (m *Machine) Spawn(comm string, script Script) (*Task, error) {
	t, err := m.newTask(comm, KindUser, 0)
	if err != nil {
		return nil, err
	}
	base := m.userNext
	m.userNext += UserRegionSize + mem.PageSize
	if err := m.Mem.Map(base, UserRegionSize, mem.PermRW); err != nil {
		return nil, err
	}
	u := &User{Task: t, Base: base, Size: UserRegionSize, m: m, brk: base}
	seq := func(yield func(call) bool) {
		u.yield = yield
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopSignal); !ok {
					panic(r)
				}
			}
		}()
		script(u)
	}
	u.next, u.stopf = iter.Pull(seq)
	t.user = u
	t.inUser = true
	m.runq = append(m.runq, t)
	return t, nil
}

func (u *User) stop() {
	if u.stopf != nil {
		u.stopf()
	}
}

// Syscall makes system call nr with up to three arguments and returns
// its result (a negative errno on failure).
func (u *User) Syscall(nr uint64, args ...uint64) int64 {
	var c call
	c.nr = nr
	copy(c.args[:], args)
	if !u.yield(c) {
		panic(stopSignal{})
	}
	return u.ret
}

// Compute spends ns nanoseconds of CPU time in user space (the process
// stays runnable and can be preempted).
func (u *User) Compute(ns uint64) {
	if ns == 0 {
		return
	}
	if !u.yield(call{spin: ns}) {
		panic(stopSignal{})
	}
}

// Now returns the virtual time.
func (u *User) Now() uint64 { return u.m.now }

// Alloc returns n bytes of the process's user memory (8-byte aligned).
func (u *User) Alloc(n uint64) uint64 {
	a := (u.brk + 7) &^ 7
	if a+n > u.Base+u.Size {
		panic(fmt.Sprintf("%s: out of user memory", u.Task))
	}
	u.brk = a + n
	return a
}

// CString copies s and a NUL into user memory and returns its address.
func (u *User) CString(s string) uint64 {
	a := u.Alloc(uint64(len(s)) + 1)
	_ = u.m.Mem.Poke(a, append([]byte(s), 0))
	return a
}

// Read returns n bytes of user memory at addr.
func (u *User) Read(addr, n uint64) []byte {
	b := make([]byte, n)
	_ = u.m.Mem.Peek(addr, b)
	return b
}

// Write copies b to user memory at addr.
func (u *User) Write(addr uint64, b []byte) { _ = u.m.Mem.Poke(addr, b) }

// Printf writes a line to the console, prefixed with the process's name
// and pid.
func (u *User) Printf(format string, args ...any) {
	at := u.m.now
	if v := u.Task.cpu; v != nil {
		at = u.m.clock(v)
	}
	s := fmt.Sprintf("%s[%d]: ", u.Task.Comm, u.Task.PID) + fmt.Sprintf(format, args...)
	if len(s) == 0 || s[len(s)-1] != '\n' {
		s += "\n"
	}
	u.m.consoleWrite(at, []byte(s))
}

// userStep advances a user process that is in user space on v: it burns
// user time, or enters the kernel with its next system call, or exits.
func (m *Machine) userStep(v *VCPU, t *Task, budget uint64) {
	u := t.user
	if v.stopperWaiting() {
		// User code is preemptible anywhere.
		m.preempt(v)
		return
	}
	if u.spin == 0 {
		c, ok := u.last, true
		if u.again {
			u.again = false
		} else if c, ok = u.next(); !ok {
			m.exit(t, 0)
			return
		}
		u.last = c
		if c.spin > 0 {
			u.spin = c.spin
		} else {
			// The syscall instruction itself.
			v.used++
			if v.slice > 0 {
				v.slice--
			}
			c2 := v.CPU
			c2.Regs = [16]uint64{}
			c2.Regs[cpu.RSP] = t.StackHi
			c2.Regs[cpu.RDI] = c.nr
			c2.Regs[cpu.RSI] = c.args[0]
			c2.Regs[cpu.RDX] = c.args[1]
			c2.Regs[cpu.RCX] = c.args[2]
			c2.RIP = m.K.EntrySyscall
			c2.SetShadow(nil)
			t.inUser = false
			return
		}
	}
	n := min(budget-v.used, v.slice, u.spin)
	u.spin -= n
	v.used += n
	v.slice -= n
	if v.slice == 0 {
		m.preempt(v)
	}
}

// Mark returns the allocation mark of the process's user memory, for
// Release.
func (u *User) Mark() uint64 { return u.brk }

// Release frees everything Alloc returned since Mark returned mark.
func (u *User) Release(mark uint64) {
	if mark >= u.Base && mark <= u.brk {
		u.brk = mark
	}
}
