package cpu

import "math/bits"

// Kinds of the last flag-setting operation, from which the arithmetic
// flags are computed on demand.
const (
	fNone  uint8 = iota // rflags holds the arithmetic flags
	fAdd                // res = a + b + (fx&1)
	fSub                // res = a - b - (fx&1)
	fLogic              // CF = OF = AF = 0
	fInc                // CF = fx&1, OF and AF from res
	fDec                // CF = fx&1, OF and AF from res
	fRes                // CF, OF, AF are the bits of fx; ZF, SF, PF from res
)

// Condition codes in their x86 encoding.
const (
	ccO = iota
	ccNO
	ccB
	ccAE
	ccE
	ccNE
	ccBE
	ccA
	ccS
	ccNS
	ccP
	ccNP
	ccL
	ccGE
	ccLE
	ccG
)

var sizeMask = [9]uint64{1: 0xff, 2: 0xffff, 4: 0xffffffff, 8: ^uint64(0)}
var sizeSign = [9]uint64{1: 0x80, 2: 0x8000, 4: 0x80000000, 8: 1 << 63}

// parity[b] is FlagPF if b has an even number of set bits.
var parity = func() (t [256]uint8) {
	for i := range t {
		if bits.OnesCount8(uint8(i))%2 == 0 {
			t[i] = uint8(FlagPF)
		}
	}
	return t
}()

// sext sign-extends the low size bytes of v.
func sext(v uint64, size uint8) int64 {
	s := 64 - 8*uint(size)
	return int64(v<<s) >> s
}

// setFlags records a flag-setting operation.
func (c *CPU) setFlags(op, size uint8, a, b, res, x uint64) {
	c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = op, size, a, b, res, x
}

// arith computes the arithmetic flags of the recorded operation.
func (c *CPU) arith() uint64 {
	sz := c.fsz
	sign := sizeSign[sz&15]
	a, b, r := c.fa, c.fb, c.fres
	f := uint64(parity[uint8(r)])
	if r == 0 {
		f |= FlagZF
	}
	if r&sign != 0 {
		f |= FlagSF
	}
	switch c.fop {
	case fAdd:
		if r < a || (c.fx&1 != 0 && r == a) {
			f |= FlagCF
		}
		if (a^r)&(b^r)&sign != 0 {
			f |= FlagOF
		}
		f |= (a ^ b ^ r) & FlagAF
	case fSub:
		if a < b || (c.fx&1 != 0 && a == b) {
			f |= FlagCF
		}
		if (a^b)&(a^r)&sign != 0 {
			f |= FlagOF
		}
		f |= (a ^ b ^ r) & FlagAF
	case fInc:
		f |= c.fx & FlagCF
		if r == sign {
			f |= FlagOF
		}
		if r&0xf == 0 {
			f |= FlagAF
		}
	case fDec:
		f |= c.fx & FlagCF
		if r == sign-1 {
			f |= FlagOF
		}
		if r&0xf == 0xf {
			f |= FlagAF
		}
	case fRes:
		f |= c.fx & (FlagCF | FlagOF | FlagAF)
	}
	return f
}

// flags materialises and returns the whole of RFLAGS.
func (c *CPU) flags() uint64 {
	if c.fop != fNone {
		c.rflags = c.rflags&^FlagsArith | c.arith()
		c.fop = fNone
	}
	return c.rflags
}

// cf returns the carry flag as 0 or 1.
func (c *CPU) cf() uint64 {
	switch c.fop {
	case fNone:
		return c.rflags & FlagCF
	case fAdd:
		if c.fres < c.fa || (c.fx&1 != 0 && c.fres == c.fa) {
			return 1
		}
		return 0
	case fSub:
		if c.fa < c.fb || (c.fx&1 != 0 && c.fa == c.fb) {
			return 1
		}
		return 0
	case fLogic:
		return 0
	}
	return c.fx & FlagCF
}

// setArithFlags replaces the arithmetic flags with f (only bits in
// FlagsArith are used).
func (c *CPU) setArithFlags(f uint64) {
	c.rflags = c.rflags&^FlagsArith | f&FlagsArith
	c.fop = fNone
}

// cond evaluates a condition code.
func (c *CPU) cond(cc uint8) bool {
	switch c.fop {
	case fSub:
		if c.fx == 0 {
			a, b := c.fa, c.fb
			switch cc {
			case ccE:
				return a == b
			case ccNE:
				return a != b
			case ccB:
				return a < b
			case ccAE:
				return a >= b
			case ccBE:
				return a <= b
			case ccA:
				return a > b
			case ccL:
				return sext(a, c.fsz) < sext(b, c.fsz)
			case ccGE:
				return sext(a, c.fsz) >= sext(b, c.fsz)
			case ccLE:
				return sext(a, c.fsz) <= sext(b, c.fsz)
			case ccG:
				return sext(a, c.fsz) > sext(b, c.fsz)
			case ccS:
				return c.fres&sizeSign[c.fsz&15] != 0
			case ccNS:
				return c.fres&sizeSign[c.fsz&15] == 0
			}
		}
	case fLogic:
		r := c.fres
		neg := r&sizeSign[c.fsz&15] != 0
		switch cc {
		case ccE, ccBE:
			return r == 0
		case ccNE, ccA:
			return r != 0
		case ccS, ccL:
			return neg
		case ccNS, ccGE:
			return !neg
		case ccLE:
			return r == 0 || neg
		case ccG:
			return r != 0 && !neg
		case ccB, ccO:
			return false
		case ccAE, ccNO:
			return true
		}
	}
	return condFlags(c.flags(), cc)
}

// condFlags evaluates a condition code on materialised flags.
func condFlags(f uint64, cc uint8) bool {
	var r bool
	switch cc >> 1 {
	case 0:
		r = f&FlagOF != 0
	case 1:
		r = f&FlagCF != 0
	case 2:
		r = f&FlagZF != 0
	case 3:
		r = f&(FlagCF|FlagZF) != 0
	case 4:
		r = f&FlagSF != 0
	case 5:
		r = f&FlagPF != 0
	case 6:
		r = (f&FlagSF != 0) != (f&FlagOF != 0)
	case 7:
		r = f&FlagZF != 0 || (f&FlagSF != 0) != (f&FlagOF != 0)
	}
	return r != (cc&1 != 0)
}
