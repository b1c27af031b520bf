package symtab

import (
	"debug/elf"
	"errors"
	"fmt"
	"strings"
)

// Error kinds; every error the look-up code returns is an *Error whose Kind
// is one of these, so callers can use errors.Is.
var (
	// ErrNoFileMatch: an object FILE block matches no parent FILE block.
	ErrNoFileMatch = errors.New("no matching FILE block")
	// ErrDuplicateFileMatch: an object FILE block with locals matches
	// several parent FILE blocks.
	ErrDuplicateFileMatch = errors.New("duplicate FILE block matches")
	// ErrDuplicateSymbol: a name resolves to two local, global or exported
	// symbols.
	ErrDuplicateSymbol = errors.New("duplicate symbol")
	// ErrInvalidSymvers: Module.symvers has no recognisable module column.
	ErrInvalidSymvers = errors.New("invalid Module.symvers")
)

// Error is a look-up failure. Its message is the one kpatch prints (for
// example "duplicate local symbol found for foo"); Kind classifies it.
type Error struct {
	// Kind is one of ErrNoFileMatch, ErrDuplicateFileMatch,
	// ErrDuplicateSymbol or ErrInvalidSymvers.
	Kind error
	// Msg is the complete message.
	Msg string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Local is a LOCAL symbol of the object being patched, as far as FILE-block
// matching is concerned.
type Local struct {
	// Name is the symbol name.
	Name string
	// Type is the symbol type; only STT_FUNC and STT_OBJECT matter.
	Type elf.SymType
}

// FileBlock describes one STT_FILE symbol of the object being patched (the
// ORIG object) and the LOCAL symbols that follow it in the object's symbol
// table up to the next STT_FILE symbol. Only STT_FUNC and STT_OBJECT locals
// take part in matching; others may be listed and are ignored.
type FileBlock struct {
	// Name is the STT_FILE symbol's name (the source file name).
	Name string
	// Locals lists the LOCAL symbols of the block, in any order.
	Locals []Local
}

// Result is a resolved symbol.
type Result struct {
	// Name is the name looked up.
	Name string
	// Addr is the value from the parent table (0 for exported symbols,
	// which are resolved at run time).
	Addr uint64
	// Size is the size from the parent table (0 for exported symbols).
	Size uint64
	// Sympos is the livepatch symbol position: for a local, the 1-based
	// count of same-named LOCAL symbols of the whole table whose address is
	// at most Addr; 0 for globals and exported symbols.
	Sympos uint64
	// ObjName is the object that defines the symbol: the parent name for
	// symbols found in the table, the Module.symvers object name (base
	// name, '-' turned into '_') for exported ones.
	ObjName string
	// Global is false for a symbol found as a local of the matched FILE
	// block, true otherwise.
	Global bool
	// Exported reports that the symbol is in Module.symvers.
	Exported bool
}

// Lookup resolves symbol names against a parent table and Module.symvers,
// given the FILE blocks of the object being patched. It is safe for
// concurrent use.
type Lookup struct {
	// Parent is the parent object name ("vmlinux" or a module name with
	// '-' turned into '_'); it is the ObjName of symbols found in Table.
	Parent string
	// Table is the parent symbol table.
	Table *Table
	// Symvers holds the kernel's exports (possibly empty).
	Symvers *Symvers

	// match[i] is the Table index of the STT_FILE entry matched to object
	// block i.
	match []int
}

// NewLookup matches every object FILE block to a FILE block of the parent
// table and returns the resulting Lookup. sv may be nil (no exports).
//
// A parent FILE entry matches object block b when it has b's name and the
// LOCAL FUNC/OBJECT symbols of its block (up to the next FILE entry) are, as
// (name, type) pairs, all among b's, while each of b's LOCAL FUNC/OBJECT
// symbols is among the parent block's, except names the linker may discard
// (see MaybeDiscarded). When b has a local that is not possibly discarded,
// exactly one parent block must match (none: ErrNoFileMatch, "couldn't find
// matching F local symbols in P symbol table"; several:
// ErrDuplicateFileMatch, "found duplicate matches for F local symbols in P
// symbol table"); otherwise the first match in table order is used, and
// having none is still ErrNoFileMatch.
func NewLookup(parent string, t *Table, sv *Symvers, blocks []FileBlock) (*Lookup, error) {
	l := &Lookup{Parent: parent, Table: t, Symvers: sv, match: make([]int, len(blocks))}
	type key struct {
		name string
		typ  elf.SymType
	}
	objSet := make(map[key]struct{})
	tabSet := make(map[key]struct{})
	var need []key
	for bi, b := range blocks {
		clear(objSet)
		need = need[:0]
		for _, s := range b.Locals {
			if s.Type != elf.STT_FUNC && s.Type != elf.STT_OBJECT {
				continue
			}
			k := key{s.Name, s.Type}
			objSet[k] = struct{}{}
			if !MaybeDiscarded(s.Name) {
				need = append(need, k)
			}
		}
		hasLocals := len(need) > 0
		found := -1
	candidates:
		for _, fi := range t.fileByName[b.Name] {
			file := int(t.files[fi])
			start, end := t.Block(file)
			clear(tabSet)
			for _, e := range t.Entries[start:end] {
				if e.Bind != elf.STB_LOCAL || (e.Type != elf.STT_FUNC && e.Type != elf.STT_OBJECT) {
					continue
				}
				k := key{e.Name, e.Type}
				if _, ok := objSet[k]; !ok {
					continue candidates
				}
				tabSet[k] = struct{}{}
			}
			for _, k := range need {
				if _, ok := tabSet[k]; !ok {
					continue candidates
				}
			}
			if found >= 0 {
				return nil, &Error{Kind: ErrDuplicateFileMatch,
					Msg: fmt.Sprintf("found duplicate matches for %s local symbols in %s symbol table", b.Name, parent)}
			}
			found = file
			if !hasLocals {
				break
			}
		}
		if found < 0 {
			return nil, &Error{Kind: ErrNoFileMatch,
				Msg: fmt.Sprintf("couldn't find matching %s local symbols in %s symbol table", b.Name, parent)}
		}
		l.match[bi] = found
	}
	return l, nil
}

// MaybeDiscarded reports whether name is one of the local symbols that
// linking may drop, which FILE-block matching does not require to be present
// in the parent table: names starting with "__exitcall_",
// "__brk_reservation_fn_", "__func_stack_frame_non_standard_",
// "__trace_check", ".L.str" or ".L__const"; names containing
// "__addressable_" or "__UNIQUE_ID_"; and UBSAN data (names starting with
// ".Lubsan_" or containing "..Lubsan_").
func MaybeDiscarded(name string) bool {
	return strings.HasPrefix(name, "__exitcall_") ||
		strings.HasPrefix(name, "__brk_reservation_fn_") ||
		strings.HasPrefix(name, "__func_stack_frame_non_standard_") ||
		strings.HasPrefix(name, "__trace_check") ||
		strings.Contains(name, "__addressable_") ||
		strings.Contains(name, "__UNIQUE_ID_") ||
		strings.HasPrefix(name, ".L.str") ||
		strings.HasPrefix(name, ".L__const") ||
		strings.HasPrefix(name, ".Lubsan_") ||
		strings.Contains(name, "..Lubsan_")
}

// Open loads the parent symbol table from symtabPath (see Load) and
// Module.symvers from symversPath (see LoadSymvers; "" or /dev/null for no
// exports) and builds a Lookup for the object FILE blocks (see NewLookup).
func Open(parent, symtabPath, symversPath string, blocks []FileBlock) (*Lookup, error) {
	t, err := Load(symtabPath)
	if err != nil {
		return nil, err
	}
	sv := &Symvers{Path: symversPath}
	if symversPath != "" {
		if sv, err = LoadSymvers(symversPath); err != nil {
			return nil, err
		}
	}
	return NewLookup(parent, t, sv, blocks)
}

// Blocks returns the number of object FILE blocks the Lookup was built with.
func (l *Lookup) Blocks() int { return len(l.match) }

// Matched returns the index into Table.Entries of the parent STT_FILE entry
// matched to object block block, or -1 if block is out of range.
func (l *Lookup) Matched(block int) int {
	if block < 0 || block >= len(l.match) {
		return -1
	}
	return l.match[block]
}

// Find resolves name the way create-diff-object's lookup_symbol does: if
// block is a valid object FILE block index (the block the object symbol
// belongs to; -1 for none), as a local of the matched parent block
// (LookupLocal); failing that as a global of the table (LookupGlobal);
// failing that as an export (LookupExported). The bool is false when no
// step found the name. Duplicates at any step are errors.
func (l *Lookup) Find(name string, block int) (Result, bool, error) {
	if block >= 0 {
		if r, ok, err := l.LookupLocal(block, name); ok || err != nil {
			return r, ok, err
		}
	}
	if r, ok, err := l.LookupGlobal(name); ok || err != nil {
		return r, ok, err
	}
	return l.LookupExported(name)
}

// LookupLocal looks for a LOCAL symbol called name (of any type) in the
// parent FILE block matched to object block block. Two such symbols are an
// error ("duplicate local symbol found for NAME"). The result has the
// table's address and size, ObjName = Parent, Global and Exported false and
// Sympos = 1-based count of LOCAL symbols called name in the whole table
// with address <= the found one's.
func (l *Lookup) LookupLocal(block int, name string) (Result, bool, error) {
	file := l.Matched(block)
	if file < 0 {
		return Result{}, false, nil
	}
	t := l.Table
	start, end := t.Block(file)
	found := -1
	idx := t.Named(name)
	for _, i := range idx {
		if int(i) < start || int(i) >= end || t.Entries[i].Bind != elf.STB_LOCAL {
			continue
		}
		if found >= 0 {
			return Result{}, false, &Error{Kind: ErrDuplicateSymbol,
				Msg: fmt.Sprintf("duplicate local symbol found for %s", name)}
		}
		found = int(i)
	}
	if found < 0 {
		return Result{}, false, nil
	}
	e := &t.Entries[found]
	var pos uint64
	for _, i := range idx {
		o := &t.Entries[i]
		if o.Bind == elf.STB_LOCAL && o.Value <= e.Value {
			pos++
		}
	}
	return Result{Name: name, Addr: e.Value, Size: e.Size, Sympos: pos, ObjName: l.Parent}, true, nil
}

// LookupGlobal looks for a GLOBAL or WEAK symbol called name anywhere in the
// table. Two such symbols are an error ("duplicate global symbol found for
// NAME"). The result has the table's address and size, Sympos 0, ObjName =
// Parent, Global true and Exported = name is in Module.symvers.
func (l *Lookup) LookupGlobal(name string) (Result, bool, error) {
	t := l.Table
	found := -1
	for _, i := range t.Named(name) {
		if b := t.Entries[i].Bind; b != elf.STB_GLOBAL && b != elf.STB_WEAK {
			continue
		}
		if found >= 0 {
			return Result{}, false, &Error{Kind: ErrDuplicateSymbol,
				Msg: fmt.Sprintf("duplicate global symbol found for %s", name)}
		}
		found = int(i)
	}
	if found < 0 {
		return Result{}, false, nil
	}
	e := &t.Entries[found]
	return Result{Name: name, Addr: e.Value, Size: e.Size, ObjName: l.Parent,
		Global: true, Exported: l.Symvers.IsExported(name)}, true, nil
}

// LookupExported looks name up in Module.symvers. A name exported twice is
// an error ("duplicate exported symbol found for NAME"). The result has
// Addr, Size and Sympos 0, ObjName = the export's object name, Global and
// Exported true.
func (l *Lookup) LookupExported(name string) (Result, bool, error) {
	e, ok, err := l.Symvers.Lookup(name)
	if !ok || err != nil {
		return Result{}, ok, err
	}
	return Result{Name: name, ObjName: e.ObjName, Global: true, Exported: true}, true, nil
}
