package cpu

// Fast forms: the most frequent instruction shapes get a kind of their
// own that Run executes inline, without a call per instruction. inst.op
// keeps the general kind, which exec runs when the fast path does not
// apply (a memory access that misses the translation cache, crosses a
// page or faults).
const (
	xNone uint8 = iota
	xNop
	xMovRR  // mov reg, reg (size 4 or 8)
	xMovRI  // mov $imm, reg (size 4 or 8)
	xLoad   // mov mem, reg (size 4 or 8)
	xLoadZ8 // movzbl/movzbq mem, reg
	xStore  // mov reg, mem (size 4 or 8)
	xStoreI // mov $imm, mem (size 4 or 8)
	xStore8 // mov reg8, mem
	xLea
	xAddRR
	xAddRI
	xSubRR
	xSubRI
	xCmpRR
	xCmpRI
	xAndRR
	xAndRI
	xOrRR
	xOrRI
	xXorRR
	xXorRI
	xTestRR
	xTestRI
	xCmpRM // cmp between a register and memory, either way round
	xCmpMI // cmp $imm, mem
	xAddRM // add mem, reg
	xShlRI
	xShrRI
	xSarRI
	xIncR
	xDecR
	xMovzxRR8
	xMovsxRR // movsx/movsxd reg, reg
	xImulRR
	xCmovRR
	xSetccR
	xPushR
	xPopR
	xJcc
	xJmp
	xCall
	xRet
)

// aluFast maps ALU operations to their register-register and
// register-immediate fast forms.
var aluFast = map[op]struct{ rr, ri uint8 }{
	opAdd: {xAddRR, xAddRI}, opSub: {xSubRR, xSubRI}, opCmp: {xCmpRR, xCmpRI},
	opAnd: {xAndRR, xAndRI}, opOr: {xOrRR, xOrRI}, opXor: {xXorRR, xXorRI},
	opTest: {xTestRR, xTestRI},
}

var shiftFast = map[op]uint8{opShl: xShlRI, opShr: xShrRI, opSar: xSarRI}

// specialize picks the fast form of a translated instruction, if any.
func specialize(in *inst) {
	wide := in.size == 4 || in.size == 8
	rr := in.ak == kReg && in.bk == kReg && in.ar < 16 && in.br < 16
	ri := in.ak == kReg && in.bk == kImm && in.ar < 16
	switch in.op {
	case opNop:
		in.fast = xNop
	case opMov:
		switch {
		case wide && rr:
			in.fast = xMovRR
		case wide && ri:
			in.fast = xMovRI
		case wide && in.ak == kReg && in.bk == kMem:
			in.fast = xLoad
		case wide && in.ak == kMem && in.bk == kReg:
			in.fast = xStore
		case wide && in.ak == kMem && in.bk == kImm:
			in.fast = xStoreI
		case in.size == 1 && in.ak == kMem && in.bk == kReg && in.br < 16:
			in.fast = xStore8
		}
	case opMovzx:
		if in.ssize == 1 && wide && in.bk == kMem {
			in.fast = xLoadZ8
		} else if in.ssize == 1 && wide && rr {
			in.fast = xMovzxRR8
		}
	case opMovsx:
		if wide && rr {
			in.fast = xMovsxRR
		}
	case opLea:
		if wide {
			in.fast = xLea
		}
	case opAdd, opSub, opCmp, opAnd, opOr, opXor, opTest:
		if !wide {
			return
		}
		p := aluFast[in.op]
		switch {
		case rr:
			in.fast = p.rr
		case ri:
			in.fast = p.ri
		case in.op == opCmp && in.ak == kReg && in.bk == kMem && in.ar < 16,
			in.op == opCmp && in.ak == kMem && in.bk == kReg && in.br < 16:
			in.fast = xCmpRM
		case in.op == opAdd && in.ak == kReg && in.bk == kMem && in.ar < 16:
			in.fast = xAddRM
		case in.op == opCmp && in.ak == kMem && in.bk == kImm:
			in.fast = xCmpMI
		}
	case opShl, opShr, opSar:
		if wide && ri && in.imm&63 != 0 && (in.size == 8 || in.imm&31 != 0) {
			in.fast = shiftFast[in.op]
		}
	case opInc, opDec:
		if wide && in.ak == kReg {
			in.fast = xIncR
			if in.op == opDec {
				in.fast = xDecR
			}
		}
	case opImul:
		if wide && rr && in.ck != kImm {
			in.fast = xImulRR
		}
	case opCmov:
		if wide && rr {
			in.fast = xCmovRR
		}
	case opSetcc:
		if in.ak == kReg && in.ar < 16 {
			in.fast = xSetccR
		}
	case opPush:
		if in.size == 8 && in.bk == kReg {
			in.fast = xPushR
		}
	case opPop:
		if in.size == 8 && in.ak == kReg {
			in.fast = xPopR
		}
	case opJcc:
		in.fast = xJcc
	case opJmp:
		in.fast = xJmp
	case opCall:
		in.fast = xCall
	case opRet:
		in.fast = xRet
	}
}
