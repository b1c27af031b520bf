package cpu

import "math/bits"

// bitTest executes bt, bts, btr and btc.
func (c *CPU) bitTest(in *inst) uint8 {
	sz := in.size
	nbits := uint64(sz) * 8
	var off uint64
	var addr uint64
	if in.bk == kImm {
		off = in.imm & (nbits - 1)
		if in.ak == kMem {
			addr = c.ea(in)
		}
	} else {
		o := sext(c.getReg(in.br, sz), sz)
		if in.ak == kMem {
			addr = c.ea(in) + uint64((o>>(3+uint(bits.TrailingZeros8(sz))))*int64(sz))
		}
		off = uint64(o) & (nbits - 1)
	}
	var v uint64
	if in.ak == kReg {
		v = c.getReg(in.ar, sz)
	} else {
		var ok bool
		if v, ok = c.load(addr, sz); !ok {
			return stFault
		}
	}
	bit := (v >> off) & 1
	nv := v
	switch in.op {
	case opBts:
		nv = v | 1<<off
	case opBtr:
		nv = v &^ (1 << off)
	case opBtc:
		nv = v ^ 1<<off
	}
	if in.op != opBt {
		if in.ak == kReg {
			c.setReg(in.ar, sz, nv)
		} else if !c.store(addr, sz, nv) {
			return stFault
		}
	}
	c.setArithFlags(c.flags()&^FlagCF | bit)
	return stNext
}

// bitScan executes bsf, bsr, tzcnt, lzcnt and popcnt.
func (c *CPU) bitScan(in *inst) uint8 {
	sz := in.size
	src, ok := c.readB(in, sz)
	if !ok {
		return stFault
	}
	nbits := uint64(sz) * 8
	f := c.flags() &^ FlagsArith
	switch in.op {
	case opBsf, opBsr:
		if src == 0 {
			f |= FlagZF // the destination is unchanged
		} else {
			r := uint64(bits.TrailingZeros64(src))
			if in.op == opBsr {
				r = uint64(63 - bits.LeadingZeros64(src))
			}
			c.setReg(in.ar, sz, r)
		}
	case opTzcnt, opLzcnt:
		var r uint64
		if src == 0 {
			r = nbits
			f |= FlagCF
		} else if in.op == opTzcnt {
			r = uint64(bits.TrailingZeros64(src))
		} else {
			r = uint64(bits.LeadingZeros64(src)) - (64 - nbits)
		}
		if r == 0 {
			f |= FlagZF
		}
		c.setReg(in.ar, sz, r)
	case opPopcnt:
		if src == 0 {
			f |= FlagZF
		}
		c.setReg(in.ar, sz, uint64(bits.OnesCount64(src)))
	}
	c.setArithFlags(f)
	return stNext
}

// setcc executes setcc: the condition as a byte, 0 or 1.
func (c *CPU) setcc(in *inst) uint8 {
	v := uint64(0)
	if c.cond(in.cc) {
		v = 1
	}
	if in.ak == kReg {
		c.setReg(in.ar, 1, v)
		return stNext
	}
	if !c.store(c.ea(in), 1, v) {
		return stFault
	}
	return stNext
}
