package loader

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// x86 is the relocation table of the machine's architecture: what each
// x86-64 type writes and how it overflows.
var x86 = func() *relocs.Arch {
	a, err := relocs.ForMachine(elf.EM_X86_64)
	if err != nil {
		panic(err) // the table is part of the program
	}
	return a
}()

// Rela is one RELA entry to apply, with what its errors name. Both the
// loader (a module's .rela sections, Linux's apply_relocate_add) and the
// livepatch core (a patch's .klp.rela sections,
// klp_apply_section_relocs) apply them with ApplyRela.
type Rela struct {
	// Section is the relocation section and Index the entry's index in it.
	Section string
	Index   int
	// Target is the name of the relocated section, Addr its run-time
	// address and Size its size: the field must lie inside it.
	Target     string
	Addr, Size uint64
	// Off is the field's offset in Target: P is Addr+Off.
	Off  uint64
	Type elf.R_X86_64
	// Sym is the symbol's name and S its run-time value.
	Sym string
	S   uint64
	// A is the addend.
	A int64
}

// NewRela describes entry i of relocation section sec, which applies to
// section target (at addr, size bytes), with the symbols it indexes
// (index 0 is the null symbol) and their run-time values. A symbol
// index outside syms is an error naming the section and the entry.
func NewRela(sec string, i int, target string, addr, size uint64, r elf.Rela64, syms []elf.Symbol) (Rela, error) {
	out := Rela{Section: sec, Index: i, Target: target, Addr: addr, Size: size, Off: r.Off,
		Type: elf.R_X86_64(elf.R_TYPE64(r.Info)), A: r.Addend}
	si := elf.R_SYM64(r.Info)
	if int(si) >= len(syms) {
		return out, fmt.Errorf("%s: %v: bad symbol index %d (%d symbols)", out.where(), out.Type, si, len(syms))
	}
	out.Sym, out.S = syms[si].Name, syms[si].Value
	if out.Sym == "" {
		out.Sym = fmt.Sprintf("#%d", si) // a section symbol
	}
	return out, nil
}

func (r Rela) where() string {
	return fmt.Sprintf("section %s: relocation %d at %s+%#x", r.Section, r.Index, r.Target, r.Off)
}

// ApplyRela writes relocation r into m: the value of r.Type for S, A and
// P (relocs.Arch.Field), at P. The error names the relocation section,
// the entry, the place, the type and the symbol, and says why: a type
// the loader does not apply, a field beyond the section, or a value that
// does not fit (the range is part of the message).
func ApplyRela(m *mem.Memory, r Rela) error {
	P := r.Addr + r.Off
	b, err := x86.Field(uint32(r.Type), r.S, r.A, P)
	if err != nil {
		return fmt.Errorf("%s: symbol %s: %w", r.where(), r.Sym, err)
	}
	if r.Off >= r.Size || r.Off+uint64(len(b)) > r.Size {
		return fmt.Errorf("%s: %v: symbol %s: the %d-byte field is beyond the section (%#x bytes)", r.where(), r.Type, r.Sym, len(b), r.Size)
	}
	if len(b) == 0 {
		return nil
	}
	if err := m.Poke(P, b); err != nil {
		return fmt.Errorf("%s: %v: symbol %s: %w", r.where(), r.Type, r.Sym, err)
	}
	return nil
}

// parseRelas decodes the entries of a SHT_RELA section.
func parseRelas(b []byte) ([]elf.Rela64, error) {
	if len(b)%24 != 0 {
		return nil, fmt.Errorf("size %d is not a multiple of 24", len(b))
	}
	out := make([]elf.Rela64, len(b)/24)
	for i := range out {
		out[i].Off = binary.LittleEndian.Uint64(b[i*24:])
		out[i].Info = binary.LittleEndian.Uint64(b[i*24+8:])
		out[i].Addend = int64(binary.LittleEndian.Uint64(b[i*24+16:]))
	}
	return out, nil
}
