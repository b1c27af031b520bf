package relocs

// A fast x86-64 instruction length decoder for the forms compilers emit in
// kernel text. It answers ok=false for anything it does not know (VEX,
// EVEX, 3DNow!, invalid opcodes, ...), and the caller falls back to the
// full decoder; TestFastLenMatchesX86asm checks both agree wherever the
// fast one answers.

// Immediate kinds of the one-byte opcode map.
const (
	immNone = iota
	immB    // 1 byte
	immW    // 2 bytes
	immZ    // 2 bytes with an operand-size prefix, else 4
	immV    // mov r, imm: 8 bytes with REX.W, else like immZ
	immRel  // rel32 branch: 4 bytes
	immEnter
	immMoffs // 8-byte address (4 with an address-size prefix)
	immGrp3  // F6/F7: immediate only for /0 and /1
	bad      // not handled here
)

type opInfo struct {
	modrm bool
	imm   uint8
}

var oneByte [256]opInfo

func init() {
	set := func(lo, hi int, modrm bool, imm uint8) {
		for i := lo; i <= hi; i++ {
			oneByte[i] = opInfo{modrm, imm}
		}
	}
	// Arithmetic blocks 00-3F: op r/m,r (4 ModRM forms), op al,ib, op eAX,iz.
	for base := 0; base < 0x40; base += 8 {
		set(base, base+3, true, immNone)
		set(base+4, base+4, false, immB)
		set(base+5, base+5, false, immZ)
		set(base+6, base+7, false, bad)
	}
	set(0x0f, 0x0f, false, bad) // escape, handled separately
	set(0x40, 0x4f, false, bad) // REX, handled as prefixes
	set(0x50, 0x5f, false, immNone)
	set(0x60, 0x62, false, bad)
	set(0x63, 0x63, true, immNone)
	set(0x64, 0x67, false, bad) // prefixes
	set(0x68, 0x68, false, immZ)
	set(0x69, 0x69, true, immZ)
	set(0x6a, 0x6a, false, immB)
	set(0x6b, 0x6b, true, immB)
	set(0x6c, 0x6f, false, immNone)
	set(0x70, 0x7f, false, immB)
	set(0x80, 0x80, true, immB)
	set(0x81, 0x81, true, immZ)
	set(0x82, 0x82, false, bad)
	set(0x83, 0x83, true, immB)
	set(0x84, 0x8f, true, immNone)
	set(0x90, 0x99, false, immNone)
	set(0x9a, 0x9a, false, bad)
	set(0x9b, 0x9f, false, immNone)
	set(0xa0, 0xa3, false, immMoffs)
	set(0xa4, 0xa7, false, immNone)
	set(0xa8, 0xa8, false, immB)
	set(0xa9, 0xa9, false, immZ)
	set(0xaa, 0xaf, false, immNone)
	set(0xb0, 0xb7, false, immB)
	set(0xb8, 0xbf, false, immV)
	set(0xc0, 0xc1, true, immB)
	set(0xc2, 0xc2, false, immW)
	set(0xc3, 0xc3, false, immNone)
	set(0xc4, 0xc5, false, bad) // VEX
	set(0xc6, 0xc6, true, immB)
	set(0xc7, 0xc7, true, immZ)
	set(0xc8, 0xc8, false, immEnter)
	set(0xc9, 0xc9, false, immNone)
	set(0xca, 0xca, false, immW)
	set(0xcb, 0xcc, false, immNone)
	set(0xcd, 0xcd, false, immB)
	set(0xce, 0xce, false, bad)
	set(0xcf, 0xcf, false, immNone)
	set(0xd0, 0xd3, true, immNone)
	set(0xd4, 0xd6, false, bad)
	set(0xd7, 0xd7, false, immNone)
	set(0xd8, 0xdf, true, immNone)
	set(0xe0, 0xe7, false, immB)
	set(0xe8, 0xe9, false, immRel)
	set(0xea, 0xea, false, bad)
	set(0xeb, 0xeb, false, immB)
	set(0xec, 0xef, false, immNone)
	set(0xf0, 0xf0, false, bad) // prefix
	set(0xf1, 0xf1, false, immNone)
	set(0xf2, 0xf3, false, bad) // prefixes
	set(0xf4, 0xf5, false, immNone)
	set(0xf6, 0xf7, true, immGrp3)
	set(0xf8, 0xfd, false, immNone)
	set(0xfe, 0xff, true, immNone)
}

// twoByte tells, for the 0F map, whether an opcode has a ModRM byte and an
// 8-bit immediate; bad marks what the fast decoder leaves to x86asm.
func twoByte(op byte) (modrm bool, imm uint8) {
	switch {
	case op == 0x01 || op == 0x0f || op == 0x38 || op == 0x3a || op == 0x04 || op == 0x0a || op == 0x0c || op == 0x0e:
		return false, bad
	case op >= 0x24 && op <= 0x27, op >= 0x36 && op <= 0x37, op >= 0x39 && op <= 0x3f, op == 0x7a || op == 0x7b:
		return false, bad
	case op == 0x05 || op == 0x06 || op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0b ||
		(op >= 0x30 && op <= 0x35) || op == 0x77 || op == 0xa0 || op == 0xa1 || op == 0xa2 ||
		op == 0xa8 || op == 0xa9 || op == 0xaa || (op >= 0xc8 && op <= 0xcf):
		return false, immNone
	case op >= 0x80 && op <= 0x8f:
		return false, immRel
	case (op >= 0x70 && op <= 0x73) || op == 0xa4 || op == 0xac || op == 0xba || (op >= 0xc2 && op <= 0xc6):
		return true, immB
	}
	return true, immNone
}

// FastLen returns the length of the instruction at the start of b.
func FastLen(b []byte) (n int, ok bool) {
	i := 0
	opsize, addrsize, rexW := false, false, false
	for ; i < len(b) && i < 14; i++ {
		switch b[i] {
		case 0x66:
			opsize = true
			continue
		case 0x67:
			addrsize = true
			continue
		case 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65:
			continue
		}
		break
	}
	if i < len(b) && b[i]&0xf0 == 0x40 {
		rexW = b[i]&8 != 0
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	op := b[i]
	i++
	var info opInfo
	if op == 0x0f {
		if i >= len(b) {
			return 0, false
		}
		m, imm := twoByte(b[i])
		i++
		info = opInfo{m, imm}
	} else {
		info = oneByte[op]
	}
	if info.imm == bad {
		return 0, false
	}
	reg := byte(0)
	if info.modrm {
		if i >= len(b) {
			return 0, false
		}
		modrm := b[i]
		i++
		mod, rm := modrm>>6, modrm&7
		reg = modrm >> 3 & 7
		if mod != 3 {
			if rm == 4 {
				if i >= len(b) {
					return 0, false
				}
				sib := b[i]
				i++
				if mod == 0 && sib&7 == 5 {
					i += 4
				}
			} else if mod == 0 && rm == 5 {
				i += 4
			}
			switch mod {
			case 1:
				i++
			case 2:
				i += 4
			}
		}
	}
	z := 4
	if opsize {
		z = 2
	}
	switch info.imm {
	case immB:
		i++
	case immW:
		i += 2
	case immZ:
		i += z
	case immV:
		if rexW {
			i += 8
		} else {
			i += z
		}
	case immRel:
		i += 4
	case immEnter:
		i += 3
	case immMoffs:
		if addrsize {
			i += 4
		} else {
			i += 8
		}
	case immGrp3:
		if reg <= 1 {
			if op == 0xf6 {
				i++
			} else {
				i += z
			}
		}
	}
	if i > len(b) || i > 15 {
		return 0, false
	}
	return i, true
}
