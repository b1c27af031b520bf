package cpu

import "math/bits"

// mov executes mov: a register, memory or immediate source to a register
// or memory.
func (c *CPU) mov(in *inst) uint8 {
	sz := in.size
	v, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	if in.ak == kReg {
		c.setReg(in.ar, sz, v)
		return stNext
	}
	if !c.store(c.ea(in), sz, v) {
		return stFault
	}
	return stNext
}

// movzx executes movzx: the source zero-extended.
func (c *CPU) movzx(in *inst) uint8 {
	sz := in.size
	v, ok := c.readB(in, in.ssize)
	if !ok {
		return stFault
	}
	c.setReg(in.ar, sz, v)
	return stNext
}

// movsx executes movsx and movsxd: the source sign-extended.
func (c *CPU) movsx(in *inst) uint8 {
	sz := in.size
	v, ok := c.readB(in, in.ssize)
	if !ok {
		return stFault
	}
	c.setReg(in.ar, sz, uint64(sext(v, in.ssize)))
	return stNext
}

// lea executes lea: the effective address, without a segment base.
func (c *CPU) lea(in *inst) uint8 {
	sz := in.size
	a := in.disp
	if in.base != noReg {
		a += c.Regs[in.base&15]
	}
	if in.index != noReg {
		a += c.Regs[in.index&15] << (in.scale & 3)
	}
	c.setReg(in.ar, sz, a)
	return stNext
}

// cvtA executes cbw, cwde and cdqe: the accumulator's lower half
// sign-extended.
func (c *CPU) cvtA(in *inst) uint8 {
	sz := in.size
	switch sz {
	case 2:
		c.setReg(RAX, 2, uint64(sext(c.Regs[RAX], 1)))
	case 4:
		c.setReg(RAX, 4, uint64(sext(c.Regs[RAX], 2)))
	default:
		c.Regs[RAX] = uint64(sext(c.Regs[RAX], 4))
	}
	return stNext
}

// cvtD executes cwd, cdq and cqo: the accumulator's sign spread over %rdx.
func (c *CPU) cvtD(in *inst) uint8 {
	sz := in.size
	v := uint64(0)
	if c.Regs[RAX]&sizeSign[sz&15] != 0 {
		v = ^uint64(0)
	}
	c.setReg(RDX, sz, v)
	return stNext
}

// cmov executes cmovcc; a 32-bit destination is zero-extended even when the
// condition is false.
func (c *CPU) cmov(in *inst) uint8 {
	sz := in.size
	v, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	if c.cond(in.cc) {
		c.setReg(in.ar, sz, v)
	} else if sz == 4 {
		c.Regs[in.ar&15] &= 0xffffffff
	}
	return stNext
}

// xchg executes xchg.
func (c *CPU) xchg(in *inst) uint8 {
	sz := in.size
	b := c.getReg(in.br, sz)
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	if !c.writeA(in, addr, b) {
		return stFault
	}
	c.setReg(in.br, sz, a)
	return stNext
}

// cmpxchg executes cmpxchg; a memory destination is written back either
// way.
func (c *CPU) cmpxchg(in *inst) uint8 {
	sz := in.size
	acc := c.getReg(RAX, sz)
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	if acc == a {
		if !c.writeA(in, addr, c.getReg(in.br, sz)) {
			return stFault
		}
	} else {
		if in.ak == kMem && !c.store(addr, sz, a) {
			return stFault
		}
		c.setReg(RAX, sz, a)
	}
	c.setFlags(fSub, sz, acc, a, (acc-a)&sizeMask[sz&15], 0)
	return stNext
}

// xadd executes xadd.
func (c *CPU) xadd(in *inst) uint8 {
	sz := in.size
	b := c.getReg(in.br, sz)
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	res := (a + b) & sizeMask[sz&15]
	if !c.writeA(in, addr, res) {
		return stFault
	}
	c.setReg(in.br, sz, a)
	c.setFlags(fAdd, sz, a, b, res, 0)
	return stNext
}

// bswap executes bswap; its 16-bit form leaves zero.
func (c *CPU) bswap(in *inst) uint8 {
	sz := in.size
	v := c.getReg(in.ar, sz)
	switch sz {
	case 8:
		v = bits.ReverseBytes64(v)
	case 4:
		v = uint64(bits.ReverseBytes32(uint32(v)))
	default:
		v = 0
	}
	c.setReg(in.ar, sz, v)
	return stNext
}
