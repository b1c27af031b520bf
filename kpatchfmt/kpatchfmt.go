package kpatchfmt

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// Names of the intermediate sections.
const (
	FuncsSection       = ".kpatch.funcs"
	RelocationsSection = ".kpatch.relocations"
	SymbolsSection     = ".kpatch.symbols"
	StringsSection     = ".kpatch.strings"
	// CallbackPrefix starts the name of every callback section.
	CallbackPrefix = ".kpatch.callbacks."
)

// CallbackSections are the callback sections, in the order the livepatch
// core runs them around a transition.
var CallbackSections = []string{CallbackPrefix + "pre_patch", CallbackPrefix + "post_patch",
	CallbackPrefix + "pre_unpatch", CallbackPrefix + "post_unpatch"}

// Layout is the shape of the records on one machine: the size of a
// pointer (and of a C long) and the byte order.
type Layout struct {
	PtrSize int // 8 on every supported architecture; 4 is accepted
	Order   binary.ByteOrder
}

// NewLayout returns the layout for a pointer size (4 or 8 bytes) and byte
// order.
func NewLayout(ptrSize int, order binary.ByteOrder) (Layout, error) {
	if ptrSize != 4 && ptrSize != 8 {
		return Layout{}, fmt.Errorf("kpatch records: unsupported pointer size %d", ptrSize)
	}
	if order == nil {
		return Layout{}, fmt.Errorf("kpatch records: no byte order")
	}
	return Layout{PtrSize: ptrSize, Order: order}, nil
}

// For is the layout of a 64-bit object with f's byte order.
func For(f *elfobj.File) Layout {
	if f.Data == elf.ELFDATA2MSB {
		return Layout{PtrSize: 8, Order: binary.BigEndian}
	}
	return Layout{PtrSize: 8, Order: binary.LittleEndian}
}

// Field offsets, in pointer-sized words or computed from the pointer size.
// kpatch_patch_func: new_addr, new_size, old_addr, old_size, sympos, name,
// objname, one word each.
const (
	funcNewAddr = iota
	funcNewSize
	funcOldAddr
	funcOldSize
	funcSympos
	funcName
	funcObjName
	funcWords
)

// FuncSize is the size of a kpatch_patch_func.
func (l Layout) FuncSize() int { return funcWords * l.PtrSize }

// kpatch_relocation: dest (word), type (u32), external (s32), addend
// (word), objname, ksym.
func (l Layout) relocType() int     { return l.PtrSize }
func (l Layout) relocExternal() int { return l.PtrSize + 4 }
func (l Layout) relocAddend() int   { return l.align(l.PtrSize + 8) }
func (l Layout) relocObjName() int  { return l.relocAddend() + l.PtrSize }
func (l Layout) relocKSym() int     { return l.relocObjName() + l.PtrSize }

// RelocSize is the size of a kpatch_relocation.
func (l Layout) RelocSize() int { return l.relocKSym() + l.PtrSize }

// kpatch_symbol: src (word), sympos (word), bind and type (bytes), name,
// objname.
func (l Layout) symSympos() int  { return l.PtrSize }
func (l Layout) symBind() int    { return 2 * l.PtrSize }
func (l Layout) symType() int    { return 2*l.PtrSize + 1 }
func (l Layout) symName() int    { return l.align(2*l.PtrSize + 2) }
func (l Layout) symObjName() int { return l.symName() + l.PtrSize }

// SymbolSize is the size of a kpatch_symbol.
func (l Layout) SymbolSize() int { return l.symObjName() + l.PtrSize }

// CallbackSize is the size of a callback record {fn, objname}.
func (l Layout) CallbackSize() int { return 2 * l.PtrSize }

// callbackObjName is the offset of a callback's objname.
func (l Layout) callbackObjName() int { return l.PtrSize }

// Align is the alignment of every record table.
func (l Layout) Align() int { return l.PtrSize }

func (l Layout) align(n int) int { return (n + l.PtrSize - 1) / l.PtrSize * l.PtrSize }

func (l Layout) put(b []byte, v uint64) {
	if l.PtrSize == 4 {
		l.Order.PutUint32(b, uint32(v))
		return
	}
	l.Order.PutUint64(b, v)
}

func (l Layout) word(b []byte) uint64 {
	if l.PtrSize == 4 {
		return uint64(l.Order.Uint32(b))
	}
	return l.Order.Uint64(b)
}

// sword reads a signed word (a C long).
func (l Layout) sword(b []byte) int64 {
	if l.PtrSize == 4 {
		return int64(int32(l.Order.Uint32(b)))
	}
	return int64(l.Order.Uint64(b))
}

// Func is one patched function: the record of .kpatch.funcs.
type Func struct {
	New     *elfobj.Symbol // the replacement function (new_addr)
	NewSize uint64
	OldAddr uint64 // address in the running kernel's symbol table (0 in a module)
	OldSize uint64
	Sympos  uint64
	Name    string
	ObjName string // object the function lives in: vmlinux or a module
}

// Symbol is one record of .kpatch.symbols: the symbol a livepatch
// relocation is resolved against.
type Symbol struct {
	Name    string
	ObjName string // object that defines the symbol
	Sympos  uint64
	Bind    elf.SymBind
	Type    elf.SymType
	Src     uint64
}

// Relocation is one record of .kpatch.relocations with its symbol.
type Relocation struct {
	Dest     *elfobj.Section // section being relocated; written through its section symbol Dest.Sym
	Offset   uint64          // offset in Dest
	Type     uint32
	External bool // the symbol is an export of the parent module
	Addend   int64
	ObjName  string // object the relocation belongs to (the patched object)
	Sym      Symbol
}
