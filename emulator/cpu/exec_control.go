package cpu

// jmp executes a direct jmp.
func (c *CPU) jmp(in *inst) uint8 {
	c.RIP = in.target
	return stBranch
}

// jcc executes a conditional jump.
func (c *CPU) jcc(in *inst) uint8 {
	if c.cond(in.cc) {
		c.RIP = in.target
	} else {
		c.RIP = in.next
	}
	return stBranch
}

// jrcxz executes jrcxz.
func (c *CPU) jrcxz(in *inst) uint8 {
	if c.Regs[RCX] == 0 {
		c.RIP = in.target
	} else {
		c.RIP = in.next
	}
	return stBranch
}

// jmpInd executes an indirect jmp.
func (c *CPU) jmpInd(in *inst) uint8 {
	v, ok := c.readB(in, 8)
	if !ok {
		return stFault
	}
	c.RIP = v
	return stBranch
}

// call executes a direct call.
func (c *CPU) call(in *inst) uint8 { return c.callPush(in, in.target) }

// callInd executes an indirect call.
func (c *CPU) callInd(in *inst) uint8 {
	v, ok := c.readB(in, 8)
	if !ok {
		return stFault
	}
	return c.callPush(in, v)
}

// ret executes ret (with an optional immediate to pop).
func (c *CPU) ret(in *inst) uint8 {
	sp := c.Regs[RSP]
	v, ok := c.load(sp, 8)
	if !ok {
		return stFault
	}
	c.shadowPop(sp)
	c.Regs[RSP] = sp + 8 + in.imm
	c.RIP = v
	if c.branch != nil {
		c.branch(BranchRet, in.addr, v)
	}
	return stBranch
}

// callPush calls target: it pushes the return address, records the
// shadow frame and reports the call to the branch hook.
func (c *CPU) callPush(in *inst, target uint64) uint8 {
	sp := c.Regs[RSP] - 8
	if !c.store(sp, 8, in.next) {
		return stFault
	}
	c.Regs[RSP] = sp
	c.shadow = append(c.shadow, Frame{Ret: in.next, Callee: target, SP: sp})
	c.RIP = target
	if c.branch != nil {
		c.branch(BranchCall, in.addr, target)
	}
	return stBranch
}

// shadowPop drops the shadow frames a return with %rsp at sp leaves,
// counting an underflow when none was at sp.
func (c *CPU) shadowPop(sp uint64) {
	s := c.shadow
	for len(s) > 0 {
		top := s[len(s)-1]
		if top.SP > sp {
			break
		}
		// Frames below sp were abandoned (a longjmp-like unwind).
		s = s[:len(s)-1]
		if top.SP == sp {
			c.shadow = s
			return
		}
	}
	c.shadow = s
	c.shadowUnderflow++
}
