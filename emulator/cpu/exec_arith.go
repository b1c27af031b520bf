package cpu

import "math/bits"

// alu executes the two-operand ALU operations: add, or, adc, sbb, and,
// sub, xor, cmp and test.
func (c *CPU) alu(in *inst) uint8 {
	sz := in.size
	b, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	m := sizeMask[sz&15]
	var res, x uint64
	var fop uint8
	switch in.op {
	case opAdd:
		res, fop = (a+b)&m, fAdd
	case opAdc:
		x = c.cf()
		res, fop = (a+b+x)&m, fAdd
	case opSub, opCmp:
		res, fop = (a-b)&m, fSub
	case opSbb:
		x = c.cf()
		res, fop = (a-b-x)&m, fSub
	case opAnd, opTest:
		res, fop = a&b, fLogic
	case opOr:
		res, fop = a|b, fLogic
	case opXor:
		res, fop = a^b, fLogic
	}
	if in.op != opCmp && in.op != opTest && !c.writeA(in, addr, res) {
		return stFault
	}
	c.setFlags(fop, sz, a, b, res, x)
	return stNext
}

// incDec executes inc and dec, which leave CF alone.
func (c *CPU) incDec(in *inst) uint8 {
	sz := in.size
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	m := sizeMask[sz&15]
	res, fop := (a+1)&m, fInc
	if in.op == opDec {
		res, fop = (a-1)&m, fDec
	}
	if !c.writeA(in, addr, res) {
		return stFault
	}
	c.setFlags(fop, sz, a, 1, res, c.cf())
	return stNext
}

// neg executes neg.
func (c *CPU) neg(in *inst) uint8 {
	sz := in.size
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	res := (-a) & sizeMask[sz&15]
	if !c.writeA(in, addr, res) {
		return stFault
	}
	c.setFlags(fSub, sz, 0, a, res, 0)
	return stNext
}

// not executes not, which sets no flag.
func (c *CPU) not(in *inst) uint8 {
	sz := in.size
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	if !c.writeA(in, addr, ^a&sizeMask[sz&15]) {
		return stFault
	}
	return stNext
}

// mul128 returns the signed 128-bit product of a and b.
func mul128(a, b int64) (hi, lo uint64) {
	hi, lo = bits.Mul64(uint64(a), uint64(b))
	if a < 0 {
		hi -= uint64(b)
	}
	if b < 0 {
		hi -= uint64(a)
	}
	return hi, lo
}

// mul executes the one-operand mul and imul: %rdx:%rax (or its narrower
// forms) = the accumulator times the operand.
func (c *CPU) mul(in *inst) uint8 {
	sz := in.size
	src, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	signed := in.op == opImul1
	var lo, hi uint64
	over := false
	switch sz {
	case 1:
		var p uint64
		if signed {
			p = uint64(sext(c.Regs[RAX], 1)*sext(src, 1)) & 0xffff
			over = uint64(sext(p, 1))&0xffff != p
		} else {
			p = (c.Regs[RAX] & 0xff) * src
			over = p>>8 != 0
		}
		c.setReg(RAX, 2, p)
		lo = p & 0xff
	case 2, 4:
		var p uint64
		if signed {
			p = uint64(sext(c.Regs[RAX], sz) * sext(src, sz))
			over = sext(p, sz) != int64(p)
		} else {
			p = (c.Regs[RAX] & sizeMask[sz]) * src
			over = p>>(8*sz) != 0
		}
		lo = p & sizeMask[sz]
		hi = (p >> (8 * sz)) & sizeMask[sz]
		c.setReg(RAX, sz, lo)
		c.setReg(RDX, sz, hi)
	default:
		if signed {
			hi, lo = mul128(int64(c.Regs[RAX]), int64(src))
			over = hi != uint64(int64(lo)>>63)
		} else {
			hi, lo = bits.Mul64(c.Regs[RAX], src)
			over = hi != 0
		}
		c.Regs[RAX], c.Regs[RDX] = lo, hi
	}
	var f uint64
	if over {
		f = FlagCF | FlagOF
	}
	c.setFlags(fRes, sz, 0, 0, lo, f)
	return stNext
}

// imul executes the two- and three-operand imul.
func (c *CPU) imul(in *inst) uint8 {
	sz := in.size
	b, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	a := c.getReg(in.ar, sz)
	if in.ck == kImm {
		a = in.imm
	}
	var res uint64
	over := false
	if sz == 8 {
		hi, lo := mul128(int64(a), int64(b))
		res = lo
		over = hi != uint64(int64(lo)>>63)
	} else {
		p := sext(a, sz) * sext(b, sz)
		res = uint64(p) & sizeMask[sz&15]
		over = sext(res, sz) != p
	}
	c.setReg(in.ar, sz, res)
	var f uint64
	if over {
		f = FlagCF | FlagOF
	}
	c.setFlags(fRes, sz, 0, 0, res, f)
	return stNext
}

// div executes div and idiv, raising #DE on a zero divisor or a quotient
// that does not fit.
func (c *CPU) div(in *inst) uint8 {
	sz := in.size
	d, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	if d == 0 {
		return c.raise(VectorDE, in)
	}
	m := sizeMask[sz&15]
	if in.op == opDiv {
		switch sz {
		case 1:
			n := c.Regs[RAX] & 0xffff
			q, r := n/d, n%d
			if q > 0xff {
				return c.raise(VectorDE, in)
			}
			c.setReg(RAX, 2, r<<8|q)
		case 8:
			hi, lo := c.Regs[RDX], c.Regs[RAX]
			if hi >= d {
				return c.raise(VectorDE, in)
			}
			q, r := bits.Div64(hi, lo, d)
			c.Regs[RAX], c.Regs[RDX] = q, r
		default:
			n := (c.Regs[RDX]&m)<<(8*sz) | c.Regs[RAX]&m
			q, r := n/d, n%d
			if q > m {
				return c.raise(VectorDE, in)
			}
			c.setReg(RAX, sz, q)
			c.setReg(RDX, sz, r)
		}
		return stNext
	}
	sd := sext(d, sz)
	switch sz {
	case 1, 2, 4:
		var n int64
		if sz == 1 {
			n = sext(c.Regs[RAX], 2)
		} else {
			n = sext((c.Regs[RDX]&m)<<(8*sz)|c.Regs[RAX]&m, sz*2)
		}
		q, r := n/sd, n%sd
		if sd == -1 {
			q, r = -n, 0
		}
		if q != sext(uint64(q), sz) {
			return c.raise(VectorDE, in)
		}
		if sz == 1 {
			c.setReg(RAX, 2, (uint64(r)&0xff)<<8|uint64(q)&0xff)
		} else {
			c.setReg(RAX, sz, uint64(q))
			c.setReg(RDX, sz, uint64(r))
		}
		return stNext
	}
	hi, lo := c.Regs[RDX], c.Regs[RAX]
	neg := int64(hi) < 0
	if neg {
		lo = -lo
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	dneg := sd < 0
	ud := uint64(sd)
	if dneg {
		ud = -ud
	}
	if hi >= ud {
		return c.raise(VectorDE, in)
	}
	q, r := bits.Div64(hi, lo, ud)
	if neg != dneg {
		if q > 1<<63 {
			return c.raise(VectorDE, in)
		}
		q = -q
	} else if q >= 1<<63 {
		return c.raise(VectorDE, in)
	}
	if neg {
		r = -r
	}
	c.Regs[RAX], c.Regs[RDX] = q, r
	return stNext
}
