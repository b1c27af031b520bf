package cpu

import (
	"errors"
	"math/bits"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// Results of executing one instruction.
const (
	stNext   uint8 = iota // fall through to the next instruction
	stBranch              // c.RIP is set; leave the block
	stFault               // c.exc or c.memErr says why; RIP stays
	stStop                // c.stop says why; c.RIP is set
)

// Run executes instructions until max have run or something stops it; see
// the package documentation for the stop reasons. It returns the number of
// instructions executed (rep iterations count one each).
func (c *CPU) Run(max uint64) (n uint64, reason StopReason, err error) {
	c.exc, c.memErr, c.unimpl, c.extra = nil, nil, nil, 0
	skipTrap, resumeAt := c.trapResumeSet, c.trapResume
	c.trapResumeSet = false
	defer func() { c.Insns += n }()
	r := &c.Regs
	for n < max {
		rip := c.RIP
		b := c.fast[fastIndex(rip)]
		if b == nil || b.start != rip || !b.valid() {
			var exc *Exception
			b, exc = c.lookup(rip)
			if exc != nil {
				return n, StopException, exc
			}
		}
		if b.trap {
			if !skipTrap || rip != resumeAt {
				c.trapResume, c.trapResumeSet = rip, true
				return n, StopTrap, nil
			}
		}
		skipTrap = false
		insts := b.insts
		if rem := max - n; uint64(len(insts)) > rem {
			insts = insts[:rem]
		}
		// What is left for the last instruction (a rep string
		// instruction consumes one unit per iteration).
		c.budget = max - n - uint64(len(insts)-1)
		for i := range insts {
			in := &insts[i]
			switch in.fast {
			case xNop:
				continue
			case xMovRR:
				r[in.ar&15] = r[in.br&15] & sizeMask[in.size&15]
				continue
			case xMovRI:
				r[in.ar&15] = in.imm
				continue
			case xLoad:
				addr := c.ea(in)
				if p := c.mem.CachedRead(addr); p != nil && addr&mem.PageMask <= mem.PageSize-8 {
					if in.size == 8 {
						r[in.ar&15] = p.Load64(addr)
					} else {
						r[in.ar&15] = p.Load32(addr)
					}
					continue
				}
			case xLoadZ8:
				addr := c.ea(in)
				if p := c.mem.CachedRead(addr); p != nil {
					r[in.ar&15] = p.Load8(addr)
					continue
				}
			case xStore:
				addr := c.ea(in)
				if p := c.mem.CachedWrite(addr); p != nil && addr&mem.PageMask <= mem.PageSize-8 {
					if in.size == 8 {
						p.Store64(addr, r[in.br&15])
					} else {
						p.Store32(addr, r[in.br&15])
					}
					continue
				}
			case xStoreI:
				addr := c.ea(in)
				if p := c.mem.CachedWrite(addr); p != nil && addr&mem.PageMask <= mem.PageSize-8 {
					if in.size == 8 {
						p.Store64(addr, in.imm)
					} else {
						p.Store32(addr, in.imm)
					}
					continue
				}
			case xStore8:
				addr := c.ea(in)
				if p := c.mem.CachedWrite(addr); p != nil {
					p.Store8(addr, r[in.br&15])
					continue
				}
			case xLea:
				a := in.disp
				if in.base != noReg {
					a += r[in.base&15]
				}
				if in.index != noReg {
					a += r[in.index&15] << (in.scale & 3)
				}
				r[in.ar&15] = a & sizeMask[in.size&15]
				continue
			case xAddRR, xAddRI, xSubRR, xSubRI, xCmpRR, xCmpRI, xAndRR, xAndRI,
				xOrRR, xOrRI, xXorRR, xXorRI, xTestRR, xTestRI:
				m := sizeMask[in.size&15]
				a := r[in.ar&15] & m
				b := in.imm
				if in.bk == kReg {
					b = r[in.br&15] & m
				}
				var res uint64
				switch in.fast {
				case xAddRR, xAddRI:
					res = (a + b) & m
					r[in.ar&15] = res
					c.fop = fAdd
				case xSubRR, xSubRI:
					res = (a - b) & m
					r[in.ar&15] = res
					c.fop = fSub
				case xCmpRR, xCmpRI:
					res = (a - b) & m
					c.fop = fSub
				case xAndRR, xAndRI:
					res = a & b
					r[in.ar&15] = res
					c.fop = fLogic
				case xOrRR, xOrRI:
					res = a | b
					r[in.ar&15] = res
					c.fop = fLogic
				case xXorRR, xXorRI:
					res = a ^ b
					r[in.ar&15] = res
					c.fop = fLogic
				default:
					res = a & b
					c.fop = fLogic
				}
				c.fsz, c.fa, c.fb, c.fres, c.fx = in.size, a, b, res, 0
				continue
			case xCmpRM, xAddRM:
				addr := c.ea(in)
				if p := c.mem.CachedRead(addr); p != nil && addr&mem.PageMask <= mem.PageSize-8 {
					var v uint64
					if in.size == 8 {
						v = p.Load64(addr)
					} else {
						v = p.Load32(addr)
					}
					m := sizeMask[in.size&15]
					a, b := r[in.ar&15]&m, v
					if in.ak == kMem {
						a, b = v, r[in.br&15]&m
					}
					if in.fast == xAddRM {
						res := (a + b) & m
						r[in.ar&15] = res
						c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = fAdd, in.size, a, b, res, 0
					} else {
						c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = fSub, in.size, a, b, (a-b)&m, 0
					}
					continue
				}
			case xCmpMI:
				addr := c.ea(in)
				if p := c.mem.CachedRead(addr); p != nil && addr&mem.PageMask <= mem.PageSize-8 {
					var a uint64
					if in.size == 8 {
						a = p.Load64(addr)
					} else {
						a = p.Load32(addr)
					}
					c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = fSub, in.size, a, in.imm, (a-in.imm)&sizeMask[in.size&15], 0
					continue
				}
			case xShlRI, xShrRI, xSarRI:
				m := sizeMask[in.size&15]
				a := r[in.ar&15] & m
				nb := uint64(in.size) * 8
				k := in.imm & (nb - 1)
				var res, f uint64
				switch in.fast {
				case xShlRI:
					res = (a << k) & m
					f = (a >> (nb - k)) & 1
					if (res>>(nb-1))&1 != f {
						f |= FlagOF
					}
				case xShrRI:
					res = a >> k
					f = (a >> (k - 1)) & 1
					f |= (a >> (nb - 1) & 1) * FlagOF
				default:
					s := sext(a, in.size)
					res = uint64(s>>k) & m
					f = uint64(s>>(k-1)) & 1
				}
				r[in.ar&15] = res
				c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = fRes, in.size, a, k, res, f
				continue
			case xIncR, xDecR:
				m := sizeMask[in.size&15]
				a := r[in.ar&15] & m
				cf := c.cf()
				res := (a + 1) & m
				c.fop = fInc
				if in.fast == xDecR {
					res = (a - 1) & m
					c.fop = fDec
				}
				r[in.ar&15] = res
				c.fsz, c.fa, c.fb, c.fres, c.fx = in.size, a, 1, res, cf
				continue
			case xMovzxRR8:
				r[in.ar&15] = c.getReg(in.br, 1)
				continue
			case xMovsxRR:
				r[in.ar&15] = uint64(sext(r[in.br&15], in.ssize)) & sizeMask[in.size&15]
				continue
			case xImulRR:
				if in.size == 8 {
					c.imul(in)
					continue
				}
				p := int64(int32(r[in.ar&15])) * int64(int32(r[in.br&15]))
				res := uint64(p) & 0xffffffff
				var f uint64
				if int64(int32(res)) != p {
					f = FlagCF | FlagOF
				}
				r[in.ar&15] = res
				c.fop, c.fsz, c.fa, c.fb, c.fres, c.fx = fRes, 4, 0, 0, res, f
				continue
			case xCmovRR:
				if c.cond(in.cc) {
					r[in.ar&15] = r[in.br&15] & sizeMask[in.size&15]
				} else {
					r[in.ar&15] &= sizeMask[in.size&15]
				}
				continue
			case xSetccR:
				v := uint64(0)
				if c.cond(in.cc) {
					v = 1
				}
				r[in.ar&15] = r[in.ar&15]&^0xff | v
				continue
			case xPushR:
				sp := r[RSP] - 8
				if p := c.mem.CachedWrite(sp); p != nil && sp&mem.PageMask <= mem.PageSize-8 {
					p.Store64(sp, r[in.br&15])
					r[RSP] = sp
					continue
				}
			case xPopR:
				sp := r[RSP]
				if p := c.mem.CachedRead(sp); p != nil && sp&mem.PageMask <= mem.PageSize-8 {
					r[RSP] = sp + 8
					r[in.ar&15] = p.Load64(sp)
					continue
				}
			case xJcc:
				if c.cond(in.cc) {
					c.RIP = in.target
				} else {
					c.RIP = in.next
				}
				n += uint64(i) + 1
				goto nextBlock
			case xJmp:
				c.RIP = in.target
				n += uint64(i) + 1
				goto nextBlock
			case xCall:
				sp := r[RSP] - 8
				if p := c.mem.CachedWrite(sp); p != nil && sp&mem.PageMask <= mem.PageSize-8 {
					p.Store64(sp, in.next)
					r[RSP] = sp
					c.shadow = append(c.shadow, Frame{Ret: in.next, Callee: in.target, SP: sp})
					c.RIP = in.target
					if c.branch != nil {
						c.branch(BranchCall, in.addr, in.target)
					}
					n += uint64(i) + 1
					goto nextBlock
				}
			case xRet:
				sp := r[RSP]
				if p := c.mem.CachedRead(sp); p != nil && sp&mem.PageMask <= mem.PageSize-8 {
					c.RIP = p.Load64(sp)
					if s := c.shadow; len(s) > 0 && s[len(s)-1].SP == sp {
						c.shadow = s[:len(s)-1]
					} else {
						c.shadowPop(sp)
					}
					r[RSP] = sp + 8 + in.imm
					if c.branch != nil {
						c.branch(BranchRet, in.addr, c.RIP)
					}
					n += uint64(i) + 1
					goto nextBlock
				}
			}
			c.curN = n + uint64(i)
			switch c.exec(in) {
			case stNext:
				continue
			case stBranch:
				n += uint64(i) + 1 + c.extra
				c.extra = 0
				goto nextBlock
			case stFault:
				n += uint64(i) + c.extra
				c.extra = 0
				c.RIP = in.addr
				reason, err := c.faultResult(in)
				return n, reason, err
			case stStop:
				n += uint64(i) + 1
				return n, c.stop, c.stopErr(in)
			}
		}
		n += uint64(len(insts))
		c.RIP = insts[len(insts)-1].next
	nextBlock:
	}
	return n, StopBudget, nil
}

func (c *CPU) faultResult(in *inst) (StopReason, error) {
	if c.unimpl != nil {
		return StopUnimplemented, c.unimpl
	}
	if c.exc == nil {
		c.exc = c.pageFault(in.addr, c.memErr)
	}
	return StopException, c.exc
}

func (c *CPU) stopErr(in *inst) error {
	if c.stop == StopException {
		return c.exc
	}
	return nil
}

// Step executes one instruction (ignoring traps at RIP).
func (c *CPU) Step() (StopReason, error) {
	c.trapResume, c.trapResumeSet = c.RIP, true
	_, r, err := c.Run(1)
	return r, err
}

func (c *CPU) getReg(r, size uint8) uint64 {
	switch size {
	case 8:
		return c.Regs[r&15]
	case 4:
		return c.Regs[r&15] & 0xffffffff
	case 2:
		return c.Regs[r&15] & 0xffff
	}
	if r >= 16 {
		return (c.Regs[r&3] >> 8) & 0xff
	}
	return c.Regs[r&15] & 0xff
}

func (c *CPU) setReg(r, size uint8, v uint64) {
	switch size {
	case 8:
		c.Regs[r&15] = v
	case 4:
		c.Regs[r&15] = v & 0xffffffff
	case 2:
		c.Regs[r&15] = c.Regs[r&15]&^0xffff | v&0xffff
	default:
		if r >= 16 {
			c.Regs[r&3] = c.Regs[r&3]&^0xff00 | (v&0xff)<<8
			return
		}
		c.Regs[r&15] = c.Regs[r&15]&^0xff | v&0xff
	}
}

// ea computes the effective address of the memory operand.
func (c *CPU) ea(in *inst) uint64 {
	a := in.disp
	if in.base != noReg {
		a += c.Regs[in.base&15]
	}
	if in.index != noReg {
		a += c.Regs[in.index&15] << (in.scale & 3)
	}
	switch in.seg {
	case segFS:
		a += c.FSBase
	case segGS:
		a += c.GSBase
	}
	return a
}

func (c *CPU) load(addr uint64, size uint8) (uint64, bool) {
	var v uint64
	var err error
	switch size {
	case 8:
		v, err = c.mem.Read64(addr)
	case 4:
		var x uint32
		x, err = c.mem.Read32(addr)
		v = uint64(x)
	case 2:
		var x uint16
		x, err = c.mem.Read16(addr)
		v = uint64(x)
	default:
		var x uint8
		x, err = c.mem.Read8(addr)
		v = uint64(x)
	}
	if err != nil {
		c.memErr = err
		return 0, false
	}
	return v, true
}

func (c *CPU) store(addr uint64, size uint8, v uint64) bool {
	var err error
	switch size {
	case 8:
		err = c.mem.Write64(addr, v)
	case 4:
		err = c.mem.Write32(addr, uint32(v))
	case 2:
		err = c.mem.Write16(addr, uint16(v))
	default:
		err = c.mem.Write8(addr, uint8(v))
	}
	if err != nil {
		c.memErr = err
		return false
	}
	return true
}

// readB reads source operand b at the given size.
func (c *CPU) readB(in *inst, size uint8) (uint64, bool) {
	switch in.bk {
	case kReg:
		return c.getReg(in.br, size), true
	case kImm:
		return in.imm, true
	case kMem:
		return c.load(c.ea(in), size)
	}
	return 0, true
}

// readA reads destination operand a, returning its address if memory.
func (c *CPU) readA(in *inst) (v, addr uint64, ok bool) {
	if in.ak == kReg {
		return c.getReg(in.ar, in.size), 0, true
	}
	addr = c.ea(in)
	v, ok = c.load(addr, in.size)
	return v, addr, ok
}

// writeA writes destination operand a (addr from readA).
func (c *CPU) writeA(in *inst, addr, v uint64) bool {
	if in.ak == kReg {
		c.setReg(in.ar, in.size, v)
		return true
	}
	return c.store(addr, in.size, v)
}

func (c *CPU) push(v uint64, size uint8) bool {
	sp := c.Regs[RSP] - uint64(size)
	if !c.store(sp, size, v) {
		return false
	}
	c.Regs[RSP] = sp
	return true
}

func (c *CPU) raise(v Vector, in *inst) uint8 {
	c.exc = &Exception{Vector: v, RIP: in.addr, Symbol: c.Symbol(in.addr)}
	return stFault
}

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

// exec executes one instruction.
func (c *CPU) exec(in *inst) uint8 {
	sz := in.size
	switch in.op {
	case opNop:
		return stNext

	case opMov:
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

	case opMovzx:
		v, ok := c.readB(in, in.ssize)
		if !ok {
			return stFault
		}
		c.setReg(in.ar, sz, v)
		return stNext

	case opMovsx:
		v, ok := c.readB(in, in.ssize)
		if !ok {
			return stFault
		}
		c.setReg(in.ar, sz, uint64(sext(v, in.ssize)))
		return stNext

	case opLea:
		a := in.disp
		if in.base != noReg {
			a += c.Regs[in.base&15]
		}
		if in.index != noReg {
			a += c.Regs[in.index&15] << (in.scale & 3)
		}
		c.setReg(in.ar, sz, a)
		return stNext

	case opAdd, opOr, opAdc, opSbb, opAnd, opSub, opXor, opCmp, opTest:
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

	case opInc, opDec:
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

	case opNeg:
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

	case opNot:
		a, addr, ok := c.readA(in)
		if !ok {
			return stFault
		}
		if !c.writeA(in, addr, ^a&sizeMask[sz&15]) {
			return stFault
		}
		return stNext

	case opShl, opShr, opSar, opRol, opRor, opRcl, opRcr:
		return c.shift(in)

	case opShld, opShrd:
		return c.shiftDouble(in)

	case opMul, opImul1:
		return c.mul(in)

	case opImul:
		return c.imul(in)

	case opDiv, opIdiv:
		return c.div(in)

	case opCvtA:
		switch sz {
		case 2:
			c.setReg(RAX, 2, uint64(sext(c.Regs[RAX], 1)))
		case 4:
			c.setReg(RAX, 4, uint64(sext(c.Regs[RAX], 2)))
		default:
			c.Regs[RAX] = uint64(sext(c.Regs[RAX], 4))
		}
		return stNext

	case opCvtD:
		v := uint64(0)
		if c.Regs[RAX]&sizeSign[sz&15] != 0 {
			v = ^uint64(0)
		}
		c.setReg(RDX, sz, v)
		return stNext

	case opJmp:
		c.RIP = in.target
		return stBranch

	case opJcc:
		if c.cond(in.cc) {
			c.RIP = in.target
		} else {
			c.RIP = in.next
		}
		return stBranch

	case opJrcxz:
		if c.Regs[RCX] == 0 {
			c.RIP = in.target
		} else {
			c.RIP = in.next
		}
		return stBranch

	case opJmpInd:
		v, ok := c.readB(in, 8)
		if !ok {
			return stFault
		}
		c.RIP = v
		return stBranch

	case opCall:
		return c.callPush(in, in.target)

	case opCallInd:
		v, ok := c.readB(in, 8)
		if !ok {
			return stFault
		}
		return c.callPush(in, v)

	case opRet:
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

	case opSetcc:
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

	case opCmov:
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

	case opPush:
		v, ok := c.readB(in, sz)
		if !ok {
			return stFault
		}
		if !c.push(v, sz) {
			return stFault
		}
		return stNext

	case opPop:
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

	case opLeave:
		bp := c.Regs[RBP]
		v, ok := c.load(bp, 8)
		if !ok {
			return stFault
		}
		c.Regs[RSP] = bp + 8
		c.Regs[RBP] = v
		return stNext

	case opXchg:
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

	case opCmpxchg:
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

	case opXadd:
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

	case opBt, opBts, opBtr, opBtc:
		return c.bitTest(in)

	case opBsf, opBsr, opTzcnt, opLzcnt, opPopcnt:
		return c.bitScan(in)

	case opBswap:
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

	case opMovs, opStos, opCmps, opScas, opLods:
		return c.stringOp(in)

	case opHlt:
		c.RIP = in.next
		c.stop = StopHalt
		return stStop

	case opVmcall:
		c.RIP = in.next
		c.stop = StopVMCall
		return stStop

	case opInt3:
		c.RIP = in.next
		c.stop = StopException
		c.exc = &Exception{Vector: VectorBP, RIP: in.next, Symbol: c.Symbol(in.next)}
		return stStop

	case opUD:
		c.exc = &Exception{Vector: VectorUD, RIP: in.addr, Symbol: c.Symbol(in.addr)}
		_, c.exc.Bytes = c.describe(in.addr, int(in.len))
		if in.imm != 0 {
			// An undecodable instruction: show all fetched bytes.
			_, c.exc.Bytes = c.describe(in.addr, int(in.imm))
			c.exc.Err = errUndecodable
		}
		return stFault

	case opUnimpl:
		text, raw := c.describe(in.addr, int(in.len))
		c.unimpl = &UnimplementedError{RIP: in.addr, Symbol: c.Symbol(in.addr), Bytes: raw, Inst: text}
		return stFault

	case opCpuid:
		a, b, cx, d := c.cfg.CPUID(uint32(c.Regs[RAX]), uint32(c.Regs[RCX]))
		c.Regs[RAX], c.Regs[RBX], c.Regs[RCX], c.Regs[RDX] = uint64(a), uint64(b), uint64(cx), uint64(d)
		return stNext

	case opRdtsc:
		t := c.Insns + c.curN // virtual nanoseconds at this instruction
		c.Regs[RAX] = t & 0xffffffff
		c.Regs[RDX] = t >> 32
		return stNext

	case opPushf:
		if !c.push(c.flags(), 8) {
			return stFault
		}
		return stNext

	case opPopf:
		v, ok := c.load(c.Regs[RSP], 8)
		if !ok {
			return stFault
		}
		c.Regs[RSP] += 8
		c.SetRFLAGS(v)
		return stNext

	case opCld:
		c.rflags &^= FlagDF
		return stNext
	case opStd:
		c.rflags |= FlagDF
		return stNext
	case opCli:
		c.rflags &^= FlagIF
		return stNext
	case opSti:
		c.rflags |= FlagIF
		return stNext
	case opClc:
		c.setArithFlags(c.flags() &^ FlagCF)
		return stNext
	case opStc:
		c.setArithFlags(c.flags() | FlagCF)
		return stNext
	case opCmc:
		c.setArithFlags(c.flags() ^ FlagCF)
		return stNext
	case opLahf:
		c.setReg(16, 1, c.flags()&0xd5|flagsFixed)
		return stNext
	case opSahf:
		ah := c.getReg(16, 1)
		c.setArithFlags(c.flags()&^0xd5 | ah&0xd5 | c.flags()&FlagOF)
		return stNext
	}
	text, raw := c.describe(in.addr, int(in.len))
	c.unimpl = &UnimplementedError{RIP: in.addr, Symbol: c.Symbol(in.addr), Bytes: raw, Inst: text, Why: "no handler"}
	return stFault
}

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

var errUndecodable = errors.New("undecodable instruction")
