package cpu

// shiftCount is the count of a shift: the immediate or %cl (when
// fromCL), masked to 6 bits for 64-bit operands and 5 bits otherwise.
func (c *CPU) shiftCount(in *inst, fromCL bool) uint64 {
	n := in.imm
	if fromCL {
		n = c.Regs[RCX]
	}
	if in.size == 8 {
		return n & 63
	}
	return n & 31
}

// shift executes shl, shr, sar and the rotates (rotate).
func (c *CPU) shift(in *inst) uint8 {
	sz := in.size
	n := c.shiftCount(in, in.bk == kCL)
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	if n == 0 {
		// No flags change; the write still zero-extends a 32-bit
		// register.
		if in.ak == kReg {
			c.setReg(in.ar, sz, a)
		}
		return stNext
	}
	nbits := uint64(sz) * 8
	m := sizeMask[sz&15]
	sign := sizeSign[sz&15]
	var res, f uint64
	switch in.op {
	case opShl:
		res = (a << n) & m
		cf := (a >> (nbits - n)) & 1
		if n > nbits {
			cf = 0
		}
		f = cf
		if (res&sign != 0) != (cf != 0) {
			f |= FlagOF
		}
	case opShr:
		res = a >> n
		f = (a >> (n - 1)) & 1
		if a&sign != 0 {
			f |= FlagOF
		}
	case opSar:
		s := sext(a, sz)
		res = uint64(s>>n) & m
		f = uint64(s>>(n-1)) & 1
	default:
		return c.rotate(in, a, addr, n)
	}
	if !c.writeA(in, addr, res) {
		return stFault
	}
	c.setFlags(fRes, sz, a, n, res, f)
	return stNext
}

func (c *CPU) rotate(in *inst, a, addr, n uint64) uint8 {
	sz := in.size
	nbits := uint64(sz) * 8
	m := sizeMask[sz&15]
	sign := sizeSign[sz&15]
	f := c.flags()
	cf := f & FlagCF
	var res uint64
	of := false
	switch in.op {
	case opRol:
		k := n % nbits
		res = (a<<k | a>>(nbits-k)) & m
		cf = res & 1
		of = (res&sign != 0) != (cf != 0)
	case opRor:
		k := n % nbits
		res = (a>>k | a<<(nbits-k)) & m
		if res&sign != 0 {
			cf = 1
		} else {
			cf = 0
		}
		of = (res&sign != 0) != (res&(sign>>1) != 0)
	case opRcl:
		k := n
		switch sz {
		case 1:
			k %= 9
		case 2:
			k %= 17
		}
		res = a
		for ; k > 0; k-- {
			out := res >> (nbits - 1) & 1
			res = (res<<1 | cf) & m
			cf = out
		}
		of = (res&sign != 0) != (cf != 0)
	case opRcr:
		k := n
		switch sz {
		case 1:
			k %= 9
		case 2:
			k %= 17
		}
		of = (a&sign != 0) != (cf != 0)
		res = a
		for ; k > 0; k-- {
			out := res & 1
			res = (res>>1 | cf<<(nbits-1)) & m
			cf = out
		}
	}
	if !c.writeA(in, addr, res) {
		return stFault
	}
	f = f&^(FlagCF|FlagOF) | cf
	if of {
		f |= FlagOF
	}
	c.setArithFlags(f)
	return stNext
}

// shiftDouble executes shld and shrd.
func (c *CPU) shiftDouble(in *inst) uint8 {
	sz := in.size
	n := c.shiftCount(in, in.ck == kCL)
	a, addr, ok := c.readA(in)
	if !ok {
		return stFault
	}
	b := c.getReg(in.br, sz)
	if n == 0 {
		if in.ak == kReg {
			c.setReg(in.ar, sz, a)
		}
		return stNext
	}
	nbits := uint64(sz) * 8
	m := sizeMask[sz&15]
	sign := sizeSign[sz&15]
	var res, f uint64
	if in.op == opShld {
		if sz == 2 && n > 16 {
			// Undefined; shift through the 32-bit concatenation b:a:b.
			w := b<<32 | a<<16 | b
			res = (w >> (32 - (n - 16))) & m
			f = (w >> (48 - n)) & 1
		} else {
			res = (a<<n | b>>(nbits-n)) & m
			f = (a >> (nbits - n)) & 1
		}
	} else {
		if sz == 2 && n > 16 {
			w := a<<32 | b<<16 | a
			res = (w >> n) & m
			f = (w >> (n - 1)) & 1
		} else {
			res = (a>>n | b<<(nbits-n)) & m
			f = (a >> (n - 1)) & 1
		}
	}
	if (res&sign != 0) != (a&sign != 0) {
		f |= FlagOF
	}
	if !c.writeA(in, addr, res) {
		return stFault
	}
	c.setFlags(fRes, sz, a, n, res, f)
	return stNext
}
