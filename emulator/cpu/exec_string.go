package cpu

// stringOp executes a movs, stos, cmps, scas or lods, repeated as its
// prefix says. Each iteration counts as one instruction; when the budget
// runs out between iterations RIP stays at the instruction, as on an
// interrupt.
func (c *CPU) stringOp(in *inst) uint8 {
	sz := in.size
	step := uint64(sz)
	if c.rflags&FlagDF != 0 {
		step = -step
	}
	var srcBase uint64
	switch in.seg {
	case segFS:
		srcBase = c.FSBase
	case segGS:
		srcBase = c.GSBase
	}
	if in.cc == repNone {
		if !c.stringIter(in, sz, step, srcBase) {
			return stFault
		}
		return stNext
	}
	var count uint64
	for c.Regs[RCX] != 0 {
		if count == c.budget {
			c.extra += count - 1
			c.RIP = in.addr
			return stBranch
		}
		if !c.stringIter(in, sz, step, srcBase) {
			c.extra += count
			return stFault
		}
		c.Regs[RCX]--
		count++
		if in.op == opCmps || in.op == opScas {
			eq := c.fres == 0
			if (in.cc == repE && !eq) || (in.cc == repNE && eq) {
				break
			}
		}
	}
	if count > 0 {
		c.extra += count - 1
	}
	c.RIP = in.next
	return stBranch
}

func (c *CPU) stringIter(in *inst, sz uint8, step, srcBase uint64) bool {
	switch in.op {
	case opMovs:
		v, ok := c.load(srcBase+c.Regs[RSI], sz)
		if !ok || !c.store(c.Regs[RDI], sz, v) {
			return false
		}
		c.Regs[RSI] += step
		c.Regs[RDI] += step
	case opStos:
		if !c.store(c.Regs[RDI], sz, c.Regs[RAX]) {
			return false
		}
		c.Regs[RDI] += step
	case opLods:
		v, ok := c.load(srcBase+c.Regs[RSI], sz)
		if !ok {
			return false
		}
		c.setReg(RAX, sz, v)
		c.Regs[RSI] += step
	case opCmps:
		a, ok := c.load(srcBase+c.Regs[RSI], sz)
		if !ok {
			return false
		}
		b, ok := c.load(c.Regs[RDI], sz)
		if !ok {
			return false
		}
		c.setFlags(fSub, sz, a, b, (a-b)&sizeMask[sz&15], 0)
		c.Regs[RSI] += step
		c.Regs[RDI] += step
	case opScas:
		b, ok := c.load(c.Regs[RDI], sz)
		if !ok {
			return false
		}
		a := c.getReg(RAX, sz)
		c.setFlags(fSub, sz, a, b, (a-b)&sizeMask[sz&15], 0)
		c.Regs[RDI] += step
	}
	return true
}
