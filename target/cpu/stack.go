package cpu

import "github.com/kpatchgo/kpatch-build/target/mem"

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
