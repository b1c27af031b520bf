package relocs

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotApplicable is the error of Field for a type a module loader
// cannot apply (not Direct: GOT-relative forms, a type missing from the
// table).
var ErrNotApplicable = errors.New("unsupported relocation type")

// RangeError is the error of Field when the value does not fit the
// field.
type RangeError struct {
	// Type is the relocation type's name.
	Type string
	// Value is S+A (or S+A-P).
	Value uint64
	// Bits is the field's width; Unsigned says how it is extended.
	Bits     int
	Unsigned bool
}

func (e *RangeError) Error() string {
	kind := "signed"
	if e.Unsigned {
		kind = "unsigned"
	}
	return fmt.Sprintf("%s: value %#x does not fit in a %d-bit %s field", e.Type, e.Value, e.Bits, kind)
}

// Field returns the bytes a relocation of type typ writes at its place
// P, for the symbol value S and the addend A: the value S+A (absolute
// types) or S+A-P (PC-relative types), in the type's Size bytes of the
// architecture's byte order. A Size-0 type (R_X86_64_NONE) writes
// nothing. The error is a *RangeError when the value does not fit the
// field, or wraps ErrNotApplicable (naming the type) when the type is not
// Direct.
func (a *Arch) Field(typ uint32, S uint64, A int64, P uint64) ([]byte, error) {
	r, ok := a.Types[typ]
	if !ok || !r.Direct {
		return nil, fmt.Errorf("%w %s (%d)", ErrNotApplicable, a.TypeName(typ), typ)
	}
	v := S + uint64(A)
	if r.PCRel {
		v -= P
	}
	var order binary.ByteOrder = binary.LittleEndian
	if a.Data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	b := make([]byte, r.Size)
	switch r.Size {
	case 0:
	case 8:
		order.PutUint64(b, v)
	case 4, 2, 1:
		bits := 8 * r.Size
		fits := v>>bits == 0
		if !r.Unsigned {
			shift := 64 - bits
			fits = int64(v<<shift)>>shift == int64(v)
		}
		if !fits {
			return nil, &RangeError{Type: r.Name, Value: v, Bits: bits, Unsigned: r.Unsigned}
		}
		switch r.Size {
		case 4:
			order.PutUint32(b, uint32(v))
		case 2:
			order.PutUint16(b, uint16(v))
		default:
			b[0] = byte(v)
		}
	default:
		return nil, fmt.Errorf("%w %s (%d): %d-byte field", ErrNotApplicable, r.Name, typ, r.Size)
	}
	return b, nil
}
