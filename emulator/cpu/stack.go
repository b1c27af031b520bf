package cpu

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Push pushes a 64-bit value on the stack of the current context, as a
// push instruction would.
func (c *CPU) Push(v uint64) error {
	sp := c.Regs[RSP] - 8
	if err := c.mem.Write64(sp, v); err != nil {
		return fmt.Errorf("push at %#x: %w", sp, err)
	}
	c.Regs[RSP] = sp
	return nil
}

// Pop pops a 64-bit value from the stack of the current context.
func (c *CPU) Pop() (uint64, error) {
	v, err := c.mem.Read64(c.Regs[RSP])
	if err != nil {
		return 0, fmt.Errorf("pop at %#x: %w", c.Regs[RSP], err)
	}
	c.Regs[RSP] += 8
	return v, nil
}

// Call makes the current context call target as a call instruction at
// ret would: it pushes ret, records a shadow frame and sets RIP. The
// machine uses it to enter kernel functions from Go (a thread's entry, a
// callback).
func (c *CPU) Call(target, ret uint64) error {
	if err := c.Push(ret); err != nil {
		return fmt.Errorf("call %s: %w", c.Symbol(target), err)
	}
	c.shadow = append(c.shadow, Frame{Ret: ret, Callee: target, SP: c.Regs[RSP]})
	c.RIP = target
	return nil
}

// Return returns from the current function as a ret instruction would:
// it pops the return address into RIP and pops the shadow frame. The
// machine uses it to finish a trap that stands for a whole function (an
// ftrace trampoline).
func (c *CPU) Return() error {
	sp := c.Regs[RSP]
	v, err := c.Pop()
	if err != nil {
		return fmt.Errorf("return: %w", err)
	}
	c.shadowPop(sp)
	c.RIP = v
	return nil
}

// ShadowUnderflows counts returns that matched no shadow frame (a ret to
// an address no call pushed, as with a hand-built stack). The shadow stack
// is reliable while this is zero.
func (c *CPU) ShadowUnderflows() uint64 { return c.shadowUnderflow }

// ReturnAddresses lists the return addresses of a shadow stack, innermost
// first: the order in which an unwinder reports callers.
func ReturnAddresses(shadow []Frame) []uint64 {
	out := make([]uint64, len(shadow))
	for i := range shadow {
		out[i] = shadow[len(shadow)-1-i].Ret
	}
	return out
}

// WalkFramePointers follows the %rbp chain of a kernel built with frame
// pointers, starting at rbp, and returns the return addresses found,
// innermost first. Each frame is [rbp] = caller's rbp, [rbp+8] = return
// address. The walk stops at a zero frame pointer, which ends a chain
// properly (reliable is then true), or gives up (reliable false) when a
// frame pointer leaves [stackLo, stackHi), is misaligned, does not grow
// towards the stack base, cannot be read, or max frames were walked.
//
// A frame-pointer walk cannot see the caller of a function that has not
// yet pushed %rbp (or has popped it); the caller decides where the walk
// can be trusted.
func WalkFramePointers(m *mem.Memory, rbp, stackLo, stackHi uint64, max int) (rets []uint64, reliable bool) {
	for len(rets) < max {
		if rbp == 0 {
			return rets, true
		}
		if rbp&7 != 0 || rbp < stackLo || rbp+16 > stackHi || rbp+16 < rbp {
			return rets, false
		}
		var buf [16]byte
		if err := m.Peek(rbp, buf[:]); err != nil {
			return rets, false
		}
		next := le64(buf[:8])
		rets = append(rets, le64(buf[8:]))
		if next != 0 && next <= rbp {
			return rets, false
		}
		rbp = next
	}
	return rets, false
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// BranchKind says which instruction transferred control.
type BranchKind uint8

// Branch kinds.
const (
	// BranchCall is a call instruction, direct or indirect.
	BranchCall BranchKind = iota
	// BranchRet is a ret instruction.
	BranchRet
)

// String names the kind.
func (k BranchKind) String() string {
	if k == BranchCall {
		return "call"
	}
	return "ret"
}

// BranchFunc observes one executed call or return: from is the address
// of the instruction, to the address it transferred control to (the
// callee, or the return address popped). It runs after the instruction
// took effect (RIP is to, the shadow stack is updated).
type BranchFunc func(kind BranchKind, from, to uint64)

// SetBranchHook makes fn see every call and ret instruction the CPU
// executes from now on (nil: none). Calls and returns the machine makes
// on a task's behalf (Call, Return) are not instructions and are not
// seen.
func (c *CPU) SetBranchHook(fn BranchFunc) { c.branch = fn }
