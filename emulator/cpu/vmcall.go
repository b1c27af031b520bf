package cpu

import "bytes"

// VMCall is the encoding of vmcall (0f 01 c1), the instruction of every
// hypercall (StopVMCall). The machine, the livepatch core and the
// decoder use this one definition.
var VMCall = [VMCallLen]byte{0x0f, 0x01, 0xc1}

// VMCallLen is the length of vmcall in bytes: after a StopVMCall, RIP is
// the vmcall's address plus VMCallLen.
const VMCallLen = 3

// IsVMCall reports whether b starts with a vmcall.
func IsVMCall(b []byte) bool { return bytes.HasPrefix(b, VMCall[:]) }

// FindVMCall returns the offset of the first vmcall in b, or -1.
func FindVMCall(b []byte) int { return bytes.Index(b, VMCall[:]) }
