package cpu

// pushOp executes push.
func (c *CPU) pushOp(in *inst) uint8 {
	sz := in.size
	v, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	if !c.push(v, sz) {
		return stFault
	}
	return stNext
}

// pop executes pop, to a register or memory; %rsp is restored if the store
// faults.
func (c *CPU) pop(in *inst) uint8 {
	sz := in.size
	sp := c.Regs[RSP]
	v, ok := c.load(sp, sz)
	if !ok {
		return stFault
	}
	if in.ak == kReg {
		c.Regs[RSP] = sp + uint64(sz)
		c.setReg(in.ar, sz, v)
		return stNext
	}
	c.Regs[RSP] = sp + uint64(sz)
	if !c.store(c.ea(in), sz, v) {
		c.Regs[RSP] = sp
		return stFault
	}
	return stNext
}

// leave executes leave.
func (c *CPU) leave(in *inst) uint8 {
	bp := c.Regs[RBP]
	v, ok := c.load(bp, 8)
	if !ok {
		return stFault
	}
	c.Regs[RSP] = bp + 8
	c.Regs[RBP] = v
	return stNext
}

// pushf executes pushf.
func (c *CPU) pushf(in *inst) uint8 {
	if !c.push(c.flags(), 8) {
		return stFault
	}
	return stNext
}

// popf executes popf.
func (c *CPU) popf(in *inst) uint8 {
	v, ok := c.load(c.Regs[RSP], 8)
	if !ok {
		return stFault
	}
	c.Regs[RSP] += 8
	c.SetRFLAGS(v)
	return stNext
}

// push pushes v of size bytes; false if the store faults (%rsp is then
// unchanged).
func (c *CPU) push(v uint64, size uint8) bool {
	sp := c.Regs[RSP] - uint64(size)
	if !c.store(sp, size, v) {
		return false
	}
	c.Regs[RSP] = sp
	return true
}
