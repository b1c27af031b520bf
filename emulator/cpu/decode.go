package cpu

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// op is the kind of a translated instruction.
type op uint8

const (
	opUD op = iota // invalid opcode or ud2
	opUnimpl
	opNop
	opMov
	opMovzx
	opMovsx
	opLea
	opAdd
	opOr
	opAdc
	opSbb
	opAnd
	opSub
	opXor
	opCmp
	opTest
	opInc
	opDec
	opNeg
	opNot
	opShl
	opShr
	opSar
	opRol
	opRor
	opRcl
	opRcr
	opShld
	opShrd
	opMul
	opImul1
	opImul
	opDiv
	opIdiv
	opCvtA // cbw, cwde, cdqe
	opCvtD // cwd, cdq, cqo
	opJmp
	opJmpInd
	opJcc
	opJrcxz
	opCall
	opCallInd
	opRet
	opSetcc
	opCmov
	opPush
	opPop
	opLeave
	opXchg
	opCmpxchg
	opXadd
	opBt
	opBts
	opBtr
	opBtc
	opBsf
	opBsr
	opTzcnt
	opLzcnt
	opPopcnt
	opBswap
	opMovs
	opStos
	opCmps
	opScas
	opLods
	opHlt
	opVmcall
	opInt3
	opCpuid
	opRdtsc
	opPushf
	opPopf
	opCld
	opStd
	opCli
	opSti
	opClc
	opStc
	opCmc
	opLahf
	opSahf
)

// Operand kinds.
const (
	kNone uint8 = iota
	kReg
	kMem
	kImm
	kCL // shift count in %cl
)

// noReg marks an absent base or index register.
const noReg = 16

// Segment overrides that matter in 64-bit mode.
const (
	segNone uint8 = iota
	segFS
	segGS
)

// Repeat prefixes of string instructions.
const (
	repNone uint8 = iota
	repE          // rep, repe
	repNE
)

// inst is a translated instruction. Operand a is the destination (or the
// only operand), b the source; at most one of them is memory, described by
// seg, base, index, scale and disp.
type inst struct {
	op     op
	size   uint8 // operand size in bytes
	ssize  uint8 // source size of movzx/movsx
	cc     uint8 // condition code, or repeat kind of string instructions
	ak     uint8
	bk     uint8
	ar     uint8 // register number; 16..19 are %ah, %ch, %dh, %bh
	br     uint8
	len    uint8
	seg    uint8
	base   uint8
	index  uint8
	scale  uint8 // shift count: 0..3
	ck     uint8 // count kind of shld/shrd: kImm or kCL
	fast   uint8 // fast form, see fast.go
	disp   uint64
	imm    uint64
	addr   uint64
	next   uint64
	target uint64
}

// block is a run of translated instructions ending at a control transfer.
type block struct {
	start uint64
	insts []inst
	pages [2]*mem.Page
	gens  [2]uint64
	trap  bool
}

func (b *block) valid() bool {
	if b.pages[0].Gen() != b.gens[0] {
		return false
	}
	return b.pages[1] == nil || b.pages[1].Gen() == b.gens[1]
}

const (
	fastSize      = 1 << 12
	maxBlockInsts = 64
)

func fastIndex(addr uint64) uint64 { return (addr ^ addr>>12) & (fastSize - 1) }

// lookup returns the decoded block starting at rip, decoding it if needed.
// A nil block comes with an exception (a fetch fault).
func (c *CPU) lookup(rip uint64) (*block, *Exception) {
	if b := c.cache[rip]; b != nil && b.valid() {
		c.fast[fastIndex(rip)] = b
		return b, nil
	}
	b, exc := c.decodeBlock(rip)
	if exc != nil {
		return nil, exc
	}
	c.cache[rip] = b
	c.fast[fastIndex(rip)] = b
	return b, nil
}

// fetch reads up to 15 instruction bytes at addr into c.decBuf, checking
// execute permission. It returns the bytes available and the page(s).
func (c *CPU) fetch(addr uint64) ([]byte, *mem.Page, *mem.Page, error) {
	p, err := c.mem.Translate(addr, mem.AccessExec)
	if err != nil {
		return nil, nil, nil, err
	}
	off := addr & mem.PageMask
	n := copy(c.decBuf[:15], p.Data()[off:])
	if n == 15 {
		return c.decBuf[:15], p, nil, nil
	}
	q, err := c.mem.Translate(addr+uint64(n), mem.AccessExec)
	if err != nil {
		// The instruction may well fit in this page; let the decoder
		// decide, and report the fault if it needs more bytes.
		return c.decBuf[:n], p, nil, err
	}
	m := copy(c.decBuf[n:15], q.Data()[:])
	return c.decBuf[:n+m], p, q, nil
}

// decodeBlock decodes the block starting at start.
func (c *CPU) decodeBlock(start uint64) (*block, *Exception) {
	b := &block{start: start}
	_, b.trap = c.traps[start]
	addr := start
	for len(b.insts) < maxBlockInsts {
		if addr != start {
			if _, ok := c.traps[addr]; ok {
				break
			}
		}
		raw, p, q, ferr := c.fetch(addr)
		if raw == nil {
			if addr == start {
				return nil, c.pageFault(addr, ferr)
			}
			break
		}
		in, ok := c.translate(addr, raw, ferr)
		if !ok {
			// The instruction needs bytes from a page that cannot be
			// executed.
			if addr == start {
				return nil, c.pageFault(addr+uint64(len(raw)), ferr)
			}
			break
		}
		// Record the pages the instruction came from; a block spans at
		// most two.
		if !b.addPage(p) {
			break
		}
		if addr&mem.PageMask+uint64(in.len) > mem.PageSize && (q == nil || !b.addPage(q)) {
			break
		}
		b.insts = append(b.insts, in)
		addr += uint64(in.len)
		if endsBlock(in.op) {
			break
		}
	}
	return b, nil
}

func (b *block) addPage(p *mem.Page) bool {
	for i := range b.pages {
		if b.pages[i] == p {
			return true
		}
		if b.pages[i] == nil {
			b.pages[i] = p
			b.gens[i] = p.Gen()
			return true
		}
	}
	return false
}

func endsBlock(o op) bool {
	switch o {
	case opUD, opUnimpl, opJmp, opJmpInd, opJcc, opJrcxz, opCall, opCallInd, opRet,
		opMovs, opStos, opCmps, opScas, opLods, opHlt, opVmcall, opInt3, opPopf, opSti:
		return true
	}
	return false
}

func (c *CPU) pageFault(rip uint64, err error) *Exception {
	e := &Exception{Vector: VectorPF, RIP: rip, Symbol: c.Symbol(rip), Err: err}
	var f *mem.Fault
	if errors.As(err, &f) {
		e.Addr, e.Access, e.Present = f.Addr, f.Access, f.Present
	}
	return e
}

var (
	rawEndbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}
	rawEndbr32 = []byte{0xf3, 0x0f, 0x1e, 0xfb}
)

// translate decodes one instruction. ok is false if the instruction runs
// into bytes that could not be fetched (ferr).
func (c *CPU) translate(addr uint64, raw []byte, ferr error) (in inst, ok bool) {
	in.addr = addr
	set := func(o op, n int) (inst, bool) {
		in.op, in.len = o, uint8(n)
		in.next = addr + uint64(n)
		return in, true
	}
	switch {
	case IsVMCall(raw):
		return set(opVmcall, VMCallLen)
	case bytes.HasPrefix(raw, rawEndbr64), bytes.HasPrefix(raw, rawEndbr32):
		return set(opNop, 4)
	}
	// Decode from a buffer padded to the longest instruction, so that an
	// instruction running into bytes that could not be fetched shows as
	// one longer than what was fetched.
	var pad [15]byte
	copy(pad[:], raw)
	x, err := safeDecode(pad[:])
	if err == nil && x.Len > len(raw) || err != nil && len(raw) < len(pad) && ferr != nil {
		return in, false
	}
	if err != nil {
		in.imm = uint64(len(raw))
		return set(opUD, 1)
	}
	if x.Op == 0 {
		// A lone prefix (x86asm's rendering of unknown prefixed
		// opcodes): invalid.
		return set(opUD, x.Len)
	}
	t := translator{c: c, x: &x, in: &in}
	in.op, in.len = opUnimpl, uint8(x.Len)
	in.next = addr + uint64(x.Len)
	t.translate()
	specialize(&in)
	return in, true
}

// safeDecode is x86asm.Decode with a decoder panic turned into an error.
func safeDecode(b []byte) (x x86asm.Inst, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("x86asm: %v", r)
		}
	}()
	return x86asm.Decode(b, 64)
}

type translator struct {
	c  *CPU
	x  *x86asm.Inst
	in *inst
}

// regInfo maps an x86asm register to our register number and its size.
func regInfo(r x86asm.Reg) (num, size uint8, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return uint8(r - x86asm.AL), 1, true
	case r >= x86asm.AH && r <= x86asm.BH:
		return 16 + uint8(r-x86asm.AH), 1, true
	case r >= x86asm.SPB && r <= x86asm.R15B:
		return 4 + uint8(r-x86asm.SPB), 1, true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return uint8(r - x86asm.AX), 2, true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return uint8(r - x86asm.EAX), 4, true
	case r >= x86asm.RAX && r <= x86asm.R15:
		return uint8(r - x86asm.RAX), 8, true
	}
	return 0, 0, false
}

// operand converts an argument; for registers it returns the size.
func (t *translator) operand(a x86asm.Arg) (kind, reg, size uint8, ok bool) {
	switch a := a.(type) {
	case nil:
		return kNone, 0, 0, true
	case x86asm.Reg:
		n, sz, ok := regInfo(a)
		if !ok {
			return 0, 0, 0, false
		}
		return kReg, n, sz, true
	case x86asm.Mem:
		if !t.mem(a) {
			return 0, 0, 0, false
		}
		return kMem, 0, uint8(t.x.MemBytes), true
	case x86asm.Imm:
		t.in.imm = uint64(int64(a))
		return kImm, 0, 0, true
	}
	return 0, 0, 0, false
}

func (t *translator) mem(m x86asm.Mem) bool {
	in := t.in
	if t.x.AddrSize != 64 {
		return false
	}
	switch m.Segment {
	case x86asm.FS:
		in.seg = segFS
	case x86asm.GS:
		in.seg = segGS
	}
	disp := uint64(int64(int32(m.Disp)))
	if op := t.x.Opcode >> 24; t.x.Op == x86asm.MOV && op >= 0xa0 && op <= 0xa3 {
		disp = uint64(m.Disp) // moffs64
	}
	in.base, in.index = noReg, noReg
	switch {
	case m.Base == 0:
	case m.Base == x86asm.RIP:
		disp += in.next
	default:
		n, sz, ok := regInfo(m.Base)
		if !ok || sz != 8 {
			return false
		}
		in.base = n
	}
	if m.Index != 0 {
		n, sz, ok := regInfo(m.Index)
		if !ok || sz != 8 {
			return false
		}
		in.index = n
		switch m.Scale {
		case 1:
			in.scale = 0
		case 2:
			in.scale = 1
		case 4:
			in.scale = 2
		case 8:
			in.scale = 3
		default:
			return false
		}
	}
	in.disp = disp
	return true
}

func (t *translator) hasPrefix(p x86asm.Prefix) bool {
	for _, q := range t.x.Prefix {
		if q == 0 {
			break
		}
		if q&0xff == p&0xff && q&x86asm.PrefixIgnored == 0 {
			return true
		}
	}
	return false
}

// args sets operands a and b from the first two arguments and the operand
// size from the first register operand, else the memory size. It reports
// false for unsupported operands.
func (t *translator) args() bool {
	in := t.in
	ak, ar, as, ok := t.operand(t.x.Args[0])
	if !ok {
		return false
	}
	bk, br, bs, ok := t.operand(t.x.Args[1])
	if !ok {
		return false
	}
	in.ak, in.ar, in.bk, in.br = ak, ar, bk, br
	switch {
	case ak == kReg || ak == kMem:
		in.size = as
	case bk == kReg || bk == kMem:
		in.size = bs
	}
	if in.size == 0 {
		in.size = uint8(t.x.DataSize / 8)
	}
	if bk == kImm {
		in.imm &= sizeMask[in.size&15]
	}
	return in.size == 1 || in.size == 2 || in.size == 4 || in.size == 8
}

var aluOps = map[x86asm.Op]op{
	x86asm.ADD: opAdd, x86asm.OR: opOr, x86asm.ADC: opAdc, x86asm.SBB: opSbb,
	x86asm.AND: opAnd, x86asm.SUB: opSub, x86asm.XOR: opXor, x86asm.CMP: opCmp,
	x86asm.TEST: opTest, x86asm.MOV: opMov, x86asm.XCHG: opXchg,
	x86asm.CMPXCHG: opCmpxchg, x86asm.XADD: opXadd,
	x86asm.BT: opBt, x86asm.BTS: opBts, x86asm.BTR: opBtr, x86asm.BTC: opBtc,
	x86asm.BSF: opBsf, x86asm.BSR: opBsr, x86asm.TZCNT: opTzcnt,
	x86asm.LZCNT: opLzcnt, x86asm.POPCNT: opPopcnt,
	x86asm.INC: opInc, x86asm.DEC: opDec, x86asm.NEG: opNeg, x86asm.NOT: opNot,
	x86asm.BSWAP: opBswap,
}

var shiftOps = map[x86asm.Op]op{
	x86asm.SHL: opShl, x86asm.SHR: opShr, x86asm.SAR: opSar, x86asm.ROL: opRol,
	x86asm.ROR: opRor, x86asm.RCL: opRcl, x86asm.RCR: opRcr,
}

var ccOps = map[x86asm.Op]uint8{}
var setOps = map[x86asm.Op]uint8{}
var cmovOps = map[x86asm.Op]uint8{}

func init() {
	jcc := []x86asm.Op{x86asm.JO, x86asm.JNO, x86asm.JB, x86asm.JAE, x86asm.JE, x86asm.JNE,
		x86asm.JBE, x86asm.JA, x86asm.JS, x86asm.JNS, x86asm.JP, x86asm.JNP, x86asm.JL,
		x86asm.JGE, x86asm.JLE, x86asm.JG}
	set := []x86asm.Op{x86asm.SETO, x86asm.SETNO, x86asm.SETB, x86asm.SETAE, x86asm.SETE,
		x86asm.SETNE, x86asm.SETBE, x86asm.SETA, x86asm.SETS, x86asm.SETNS, x86asm.SETP,
		x86asm.SETNP, x86asm.SETL, x86asm.SETGE, x86asm.SETLE, x86asm.SETG}
	cmov := []x86asm.Op{x86asm.CMOVO, x86asm.CMOVNO, x86asm.CMOVB, x86asm.CMOVAE,
		x86asm.CMOVE, x86asm.CMOVNE, x86asm.CMOVBE, x86asm.CMOVA, x86asm.CMOVS,
		x86asm.CMOVNS, x86asm.CMOVP, x86asm.CMOVNP, x86asm.CMOVL, x86asm.CMOVGE,
		x86asm.CMOVLE, x86asm.CMOVG}
	for i := range jcc {
		ccOps[jcc[i]] = uint8(i)
		setOps[set[i]] = uint8(i)
		cmovOps[cmov[i]] = uint8(i)
	}
}

var stringOps = map[x86asm.Op]struct {
	o    op
	size uint8
}{
	x86asm.MOVSB: {opMovs, 1}, x86asm.MOVSW: {opMovs, 2}, x86asm.MOVSD: {opMovs, 4}, x86asm.MOVSQ: {opMovs, 8},
	x86asm.STOSB: {opStos, 1}, x86asm.STOSW: {opStos, 2}, x86asm.STOSD: {opStos, 4}, x86asm.STOSQ: {opStos, 8},
	x86asm.CMPSB: {opCmps, 1}, x86asm.CMPSW: {opCmps, 2}, x86asm.CMPSD: {opCmps, 4}, x86asm.CMPSQ: {opCmps, 8},
	x86asm.SCASB: {opScas, 1}, x86asm.SCASW: {opScas, 2}, x86asm.SCASD: {opScas, 4}, x86asm.SCASQ: {opScas, 8},
	x86asm.LODSB: {opLods, 1}, x86asm.LODSW: {opLods, 2}, x86asm.LODSD: {opLods, 4}, x86asm.LODSQ: {opLods, 8},
}

var simpleOps = map[x86asm.Op]op{
	x86asm.NOP: opNop, x86asm.PAUSE: opNop, x86asm.LFENCE: opNop, x86asm.MFENCE: opNop,
	x86asm.SFENCE: opNop, x86asm.PREFETCHNTA: opNop, x86asm.PREFETCHT0: opNop,
	x86asm.PREFETCHT1: opNop, x86asm.PREFETCHT2: opNop, x86asm.PREFETCHW: opNop,
	x86asm.UD2: opUD, x86asm.UD1: opUD, x86asm.UD0: opUD,
	x86asm.HLT: opHlt, x86asm.CPUID: opCpuid, x86asm.RDTSC: opRdtsc,
	x86asm.PUSHFQ: opPushf, x86asm.POPFQ: opPopf, x86asm.CLD: opCld, x86asm.STD: opStd,
	x86asm.CLI: opCli, x86asm.STI: opSti, x86asm.CLC: opClc, x86asm.STC: opStc,
	x86asm.CMC: opCmc, x86asm.LAHF: opLahf, x86asm.SAHF: opSahf, x86asm.LEAVE: opLeave,
}

// translate fills t.in from t.x; it leaves opUnimpl for anything not
// supported.
func (t *translator) translate() {
	x, in := t.x, t.in
	if o, ok := simpleOps[x.Op]; ok {
		if o == opLeave && x.DataSize == 16 {
			return
		}
		in.op = o
		return
	}
	if o, ok := aluOps[x.Op]; ok {
		if !t.args() {
			return
		}
		if o == opTzcnt && !t.c.tzcnt {
			o = opBsf // rep bsf on a CPU without BMI1
		}
		in.op = o
		return
	}
	if o, ok := shiftOps[x.Op]; ok {
		if !t.args() {
			return
		}
		switch in.bk {
		case kReg:
			if in.br != RCX || x.Args[1] != x86asm.CL {
				return
			}
			in.bk = kCL
		case kImm:
		default:
			return
		}
		in.op = o
		return
	}
	if cc, ok := ccOps[x.Op]; ok {
		rel, ok := x.Args[0].(x86asm.Rel)
		if !ok {
			return
		}
		in.cc = cc
		in.target = in.next + uint64(int64(rel))
		in.op = opJcc
		return
	}
	if cc, ok := setOps[x.Op]; ok {
		if !t.args() {
			return
		}
		in.cc, in.op = cc, opSetcc
		return
	}
	if cc, ok := cmovOps[x.Op]; ok {
		if !t.args() {
			return
		}
		in.cc, in.op = cc, opCmov
		return
	}
	if s, ok := stringOps[x.Op]; ok {
		in.size = s.size
		switch {
		case t.hasPrefix(x86asm.PrefixREP):
			in.cc = repE
		case t.hasPrefix(x86asm.PrefixREPN):
			in.cc = repNE
			if s.o != opCmps && s.o != opScas {
				in.cc = repE // repne movs etc. repeat like rep
			}
		}
		if x.AddrSize != 64 {
			return
		}
		// A segment override applies to the source of movs, cmps, lods.
		for _, a := range x.Args[:2] {
			if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RSI {
				switch m.Segment {
				case x86asm.FS:
					in.seg = segFS
				case x86asm.GS:
					in.seg = segGS
				}
			}
		}
		in.op = s.o
		return
	}
	switch x.Op {
	case x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD:
		_, _, ss, ok := t.operand(x.Args[1])
		if !ok || !t.args() {
			return
		}
		in.ssize = ss
		in.op = opMovsx
		if x.Op == x86asm.MOVZX {
			in.op = opMovzx
		}
	case x86asm.LEA:
		if !t.args() || in.ak != kReg || in.bk != kMem || in.size == 1 {
			return
		}
		in.op = opLea
	case x86asm.MUL, x86asm.DIV, x86asm.IDIV:
		if !t.args() {
			return
		}
		// The single operand is the source: move it to b.
		in.bk, in.br, in.ak = in.ak, in.ar, kNone
		in.op = map[x86asm.Op]op{x86asm.MUL: opMul, x86asm.DIV: opDiv, x86asm.IDIV: opIdiv}[x.Op]
	case x86asm.IMUL:
		if !t.args() {
			return
		}
		switch {
		case x.Args[1] == nil:
			in.bk, in.br, in.ak = in.ak, in.ar, kNone
			in.op = opImul1
		case x.Args[2] == nil:
			in.op = opImul
			in.imm = 0
		default:
			imm, ok := x.Args[2].(x86asm.Imm)
			if !ok {
				return
			}
			in.imm = uint64(int64(imm)) & sizeMask[in.size]
			in.ck = kImm
			in.op = opImul
		}
	case x86asm.SHLD, x86asm.SHRD:
		if !t.args() || in.bk != kReg {
			return
		}
		switch a := x.Args[2].(type) {
		case x86asm.Imm:
			in.imm = uint64(a)
			in.ck = kImm
		case x86asm.Reg:
			if a != x86asm.CL {
				return
			}
			in.ck = kCL
		default:
			return
		}
		in.op = opShld
		if x.Op == x86asm.SHRD {
			in.op = opShrd
		}
	case x86asm.CBW, x86asm.CWDE, x86asm.CDQE:
		in.size = uint8(x.DataSize / 8)
		in.op = opCvtA
	case x86asm.CWD, x86asm.CDQ, x86asm.CQO:
		in.size = uint8(x.DataSize / 8)
		in.op = opCvtD
	case x86asm.JMP, x86asm.CALL:
		o, oi := opJmp, opJmpInd
		if x.Op == x86asm.CALL {
			o, oi = opCall, opCallInd
		}
		switch a := x.Args[0].(type) {
		case x86asm.Rel:
			in.target = in.next + uint64(int64(a))
			in.op = o
		case x86asm.Reg, x86asm.Mem:
			// The target is always 64 bits wide in 64-bit mode,
			// whatever x86asm says about the operand size.
			k, r, _, ok := t.operand(a)
			if !ok {
				return
			}
			in.bk, in.br, in.size = k, r, 8
			if k == kReg {
				if _, sz, _ := regInfo(a.(x86asm.Reg)); sz != 8 {
					return
				}
			}
			in.op = oi
		}
	case x86asm.JRCXZ:
		rel, ok := x.Args[0].(x86asm.Rel)
		if !ok {
			return
		}
		in.target = in.next + uint64(int64(rel))
		in.op = opJrcxz
	case x86asm.RET:
		if imm, ok := x.Args[0].(x86asm.Imm); ok {
			in.imm = uint64(imm)
		}
		in.op = opRet
	case x86asm.PUSH:
		k, r, sz, ok := t.operand(x.Args[0])
		if !ok {
			return
		}
		in.bk, in.br = k, r
		in.size = uint8(x.DataSize / 8)
		if k == kReg || k == kMem {
			in.size = sz
		}
		if in.size == 4 {
			in.size = 8 // push imm32 pushes a sign-extended quadword
		}
		if in.size != 8 && in.size != 2 {
			return
		}
		in.imm &= sizeMask[in.size]
		in.op = opPush
	case x86asm.POP:
		if !t.args() || (in.size != 8 && in.size != 2) {
			return
		}
		in.op = opPop
	case x86asm.INT:
		if imm, ok := x.Args[0].(x86asm.Imm); ok && imm == 3 && x.Len == 1 {
			in.op = opInt3
		}
	}
}

// describe returns the AT&T text and raw bytes of the instruction at addr,
// for error messages.
func (c *CPU) describe(addr uint64, n int) (string, []byte) {
	if n <= 0 || n > 15 {
		n = 15
	}
	buf := make([]byte, n)
	for i := range buf {
		v, err := c.mem.Read8(addr + uint64(i))
		if err != nil {
			// Fall back to what is readable through the execute path.
			if err := c.mem.Peek(addr+uint64(i), buf[i:i+1]); err != nil {
				buf = buf[:i]
				break
			}
			continue
		}
		buf[i] = v
	}
	x, err := x86asm.Decode(buf, 64)
	if err != nil {
		return fmt.Sprintf("(bad: %v)", err), buf
	}
	return x86asm.GNUSyntax(x, addr, nil), buf[:x.Len]
}
