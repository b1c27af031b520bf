package cpu

import "errors"

// errUndecodable is the cause of the #UD raised at bytes the decoder
// cannot read.
var errUndecodable = errors.New("undecodable instruction")

// hlt executes hlt: the CPU stops (StopHalt) after it.
func (c *CPU) hlt(in *inst) uint8 {
	c.RIP = in.next
	c.stop = StopHalt
	return stStop
}

// vmcall executes vmcall: the CPU stops (StopVMCall) after it.
func (c *CPU) vmcall(in *inst) uint8 {
	c.RIP = in.next
	c.stop = StopVMCall
	return stStop
}

// int3 executes int3: a #BP exception after it.
func (c *CPU) int3(in *inst) uint8 {
	c.RIP = in.next
	c.stop = StopException
	c.exc = &Exception{Vector: VectorBP, RIP: in.next, Symbol: c.Symbol(in.next)}
	return stStop
}

// ud executes ud2, and bytes that do not decode: #UD.
func (c *CPU) ud(in *inst) uint8 {
	c.exc = &Exception{Vector: VectorUD, RIP: in.addr, Symbol: c.Symbol(in.addr)}
	_, c.exc.Bytes = c.describe(in.addr, int(in.len))
	if in.imm != 0 {
		// An undecodable instruction: show all fetched bytes.
		_, c.exc.Bytes = c.describe(in.addr, int(in.imm))
		c.exc.Err = errUndecodable
	}
	return stFault
}

// unimplemented executes an instruction the CPU does not implement.
func (c *CPU) unimplemented(in *inst) uint8 {
	text, raw := c.describe(in.addr, int(in.len))
	c.unimpl = &UnimplementedError{RIP: in.addr, Symbol: c.Symbol(in.addr), Bytes: raw, Inst: text}
	return stFault
}

// cpuid executes cpuid, answered by the configuration.
func (c *CPU) cpuid(in *inst) uint8 {
	a, b, cx, d := c.cfg.CPUID(uint32(c.Regs[RAX]), uint32(c.Regs[RCX]))
	c.Regs[RAX], c.Regs[RBX], c.Regs[RCX], c.Regs[RDX] = uint64(a), uint64(b), uint64(cx), uint64(d)
	return stNext
}

// rdtsc executes rdtsc: the instruction count is the time stamp.
func (c *CPU) rdtsc(in *inst) uint8 {
	t := c.Insns + c.curN // virtual nanoseconds at this instruction
	c.Regs[RAX] = t & 0xffffffff
	c.Regs[RDX] = t >> 32
	return stNext
}
