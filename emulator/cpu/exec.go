package cpu

import (
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

func (c *CPU) raise(v Vector, in *inst) uint8 {
	c.exc = &Exception{Vector: v, RIP: in.addr, Symbol: c.Symbol(in.addr)}
	return stFault
}

// handlers executes each operation the translator makes, indexed by the
// operation (a byte: no index is out of range). Each function is in the
// file of its instruction family (exec_*.go); exec only looks the
// operation up. An operation without a handler gets noHandler (init).
var handlers = [256]func(c *CPU, in *inst) uint8{
	opNop: (*CPU).nop,
	// Data transfer (exec_move.go).
	opMov:     (*CPU).mov,
	opMovzx:   (*CPU).movzx,
	opMovsx:   (*CPU).movsx,
	opLea:     (*CPU).lea,
	opCmov:    (*CPU).cmov,
	opXchg:    (*CPU).xchg,
	opCmpxchg: (*CPU).cmpxchg,
	opXadd:    (*CPU).xadd,
	opBswap:   (*CPU).bswap,
	opCvtA:    (*CPU).cvtA,
	opCvtD:    (*CPU).cvtD,
	// Arithmetic and logic (exec_arith.go).
	opAdd: (*CPU).alu, opOr: (*CPU).alu, opAdc: (*CPU).alu,
	opSbb: (*CPU).alu, opAnd: (*CPU).alu, opSub: (*CPU).alu,
	opXor: (*CPU).alu, opCmp: (*CPU).alu, opTest: (*CPU).alu,
	opInc: (*CPU).incDec, opDec: (*CPU).incDec,
	opNeg: (*CPU).neg,
	opNot: (*CPU).not,
	opMul: (*CPU).mul, opImul1: (*CPU).mul,
	opImul: (*CPU).imul,
	opDiv:  (*CPU).div, opIdiv: (*CPU).div,
	// Shifts and rotates (exec_shift.go).
	opShl: (*CPU).shift, opShr: (*CPU).shift, opSar: (*CPU).shift,
	opRol: (*CPU).shift, opRor: (*CPU).shift, opRcl: (*CPU).shift,
	opRcr:  (*CPU).shift,
	opShld: (*CPU).shiftDouble, opShrd: (*CPU).shiftDouble,
	// Bits and bytes (exec_bits.go).
	opBt: (*CPU).bitTest, opBts: (*CPU).bitTest, opBtr: (*CPU).bitTest, opBtc: (*CPU).bitTest,
	opBsf: (*CPU).bitScan, opBsr: (*CPU).bitScan, opTzcnt: (*CPU).bitScan,
	opLzcnt: (*CPU).bitScan, opPopcnt: (*CPU).bitScan,
	opSetcc: (*CPU).setcc,
	// Control transfer (exec_control.go).
	opJmp:     (*CPU).jmp,
	opJcc:     (*CPU).jcc,
	opJrcxz:   (*CPU).jrcxz,
	opJmpInd:  (*CPU).jmpInd,
	opCall:    (*CPU).call,
	opCallInd: (*CPU).callInd,
	opRet:     (*CPU).ret,
	// The stack (exec_stack.go).
	opPush:  (*CPU).pushOp,
	opPop:   (*CPU).pop,
	opLeave: (*CPU).leave,
	opPushf: (*CPU).pushf,
	opPopf:  (*CPU).popf,
	// Strings (exec_string.go).
	opMovs: (*CPU).stringOp, opStos: (*CPU).stringOp, opCmps: (*CPU).stringOp,
	opScas: (*CPU).stringOp, opLods: (*CPU).stringOp,
	// Flag control (exec_flags.go).
	opCld:  (*CPU).cld,
	opStd:  (*CPU).std,
	opCli:  (*CPU).cli,
	opSti:  (*CPU).sti,
	opClc:  (*CPU).clc,
	opStc:  (*CPU).stc,
	opCmc:  (*CPU).cmc,
	opLahf: (*CPU).lahf,
	opSahf: (*CPU).sahf,
	// System instructions and traps (exec_system.go).
	opHlt:    (*CPU).hlt,
	opVmcall: (*CPU).vmcall,
	opInt3:   (*CPU).int3,
	opUD:     (*CPU).ud,
	opUnimpl: (*CPU).unimplemented,
	opCpuid:  (*CPU).cpuid,
	opRdtsc:  (*CPU).rdtsc,
}

func init() {
	for o, h := range handlers {
		if h == nil {
			handlers[o] = (*CPU).noHandler
		}
	}
}

// exec executes one instruction that Run's fast forms did not, with the
// handler of its operation.
func (c *CPU) exec(in *inst) uint8 {
	return handlers[in.op](c, in)
}

// nop executes the instructions that do nothing (nop, endbr64, hints).
func (c *CPU) nop(in *inst) uint8 { return stNext }

// noHandler faults on an operation no family executes: the translator
// made an operation exec does not know.
func (c *CPU) noHandler(in *inst) uint8 {
	text, raw := c.describe(in.addr, int(in.len))
	c.unimpl = &UnimplementedError{RIP: in.addr, Symbol: c.Symbol(in.addr), Bytes: raw, Inst: text, Why: "no handler"}
	return stFault
}
