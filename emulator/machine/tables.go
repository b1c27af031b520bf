package machine

import (
	"fmt"

	"github.com/kpatchgo/kpatch-build/emulator/abi"
)

// Tables are the special tables of one object (vmlinux or a module), as
// address ranges [start, end) in memory.
type Tables struct {
	// Owner is "vmlinux" or the module's name.
	Owner string
	// Bug is __bug_table (12-byte struct bug_entry).
	Bug [2]uint64
	// Ex is __ex_table (12-byte struct exception_table_entry).
	Ex [2]uint64
	// Jump is __jump_table (16-byte struct jump_entry).
	Jump [2]uint64
}

// Entry sizes of the special tables.
const (
	BugEntrySize  = abi.Sizeof_bug_entry
	ExEntrySize   = abi.Sizeof_exception_table_entry
	JumpEntrySize = abi.Sizeof_jump_entry
)

// RegisterTables makes the bug, exception and jump tables of an object
// known to the exception handlers and to HC_JUMP_LABEL.
func (m *Machine) RegisterTables(t *Tables) error {
	for _, o := range m.tables {
		if o.Owner == t.Owner {
			return fmt.Errorf("machine: tables of %s already registered", t.Owner)
		}
	}
	for _, r := range []struct {
		name string
		rng  [2]uint64
		size uint64
	}{{"__bug_table", t.Bug, BugEntrySize}, {"__ex_table", t.Ex, ExEntrySize}, {"__jump_table", t.Jump, JumpEntrySize}} {
		if r.rng[1] < r.rng[0] || (r.rng[1]-r.rng[0])%r.size != 0 {
			return fmt.Errorf("machine: %s of %s: size %d is not a multiple of %d", r.name, t.Owner, r.rng[1]-r.rng[0], r.size)
		}
	}
	m.tables = append(m.tables, t)
	return nil
}

// UnregisterTables forgets the tables of owner.
func (m *Machine) UnregisterTables(owner string) {
	for i, o := range m.tables {
		if o.Owner == owner {
			m.tables = append(m.tables[:i], m.tables[i+1:]...)
			return
		}
	}
}

// RegisteredTables returns the owners of registered tables, in order.
func (m *Machine) RegisteredTables() []string {
	var out []string
	for _, t := range m.tables {
		out = append(out, t.Owner)
	}
	return out
}

func (m *Machine) rd32(a uint64) int32 {
	var b [4]byte
	_ = m.Mem.Peek(a, b[:])
	return int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

func (m *Machine) rd16(a uint64) uint16 {
	var b [2]byte
	_ = m.Mem.Peek(a, b[:])
	return uint16(b[0]) | uint16(b[1])<<8
}

func (m *Machine) rd64(a uint64) uint64 {
	return uint64(uint32(m.rd32(a))) | uint64(uint32(m.rd32(a+4)))<<32
}

// rel32 returns the address a 32-bit field at a designates relative to
// itself (the special tables' "target - ." fields).
func (m *Machine) rel32(a uint64) uint64 { return a + uint64(int64(m.rd32(a))) }

// BugEntry is a decoded __bug_table entry.
type BugEntry struct {
	// Entry is the entry's address; Addr the ud2's.
	Entry, Addr uint64
	File        string
	Line        int
	Flags       uint16
}

// FindBug looks addr up in every registered bug table.
func (m *Machine) FindBug(addr uint64) (BugEntry, bool) {
	for _, t := range m.tables {
		for e := t.Bug[0]; e < t.Bug[1]; e += BugEntrySize {
			if m.rel32(e+abi.Offsetof_bug_entry_bug_addr_disp) != addr {
				continue
			}
			file, _ := m.ReadCString(m.rel32(e+abi.Offsetof_bug_entry_file_disp), 256)
			return BugEntry{Entry: e, Addr: addr, File: file, Line: int(m.rd16(e + abi.Offsetof_bug_entry_line)),
				Flags: m.rd16(e + abi.Offsetof_bug_entry_flags)}, true
		}
	}
	return BugEntry{}, false
}

// FindFixup looks addr up in every registered exception table and
// returns the fixup address.
func (m *Machine) FindFixup(addr uint64) (uint64, bool) {
	for _, t := range m.tables {
		for e := t.Ex[0]; e < t.Ex[1]; e += ExEntrySize {
			if m.rel32(e+abi.Offsetof_exception_table_entry_insn) == addr {
				return m.rel32(e + abi.Offsetof_exception_table_entry_fixup), true
			}
		}
	}
	return 0, false
}

// JumpEntry is a decoded __jump_table entry.
type JumpEntry struct {
	Code, Target, Key uint64
	// Branch is bit 0 of the key word: the site jumps when the key is
	// disabled.
	Branch bool
}

// JumpEntries decodes the jump table of owner ("" for all).
func (m *Machine) JumpEntries(owner string) []JumpEntry {
	var out []JumpEntry
	for _, t := range m.tables {
		if owner != "" && t.Owner != owner {
			continue
		}
		for e := t.Jump[0]; e < t.Jump[1]; e += JumpEntrySize {
			kf := e + abi.Offsetof_jump_entry_key
			k := m.rd64(kf)
			out = append(out, JumpEntry{
				Code:   m.rel32(e + abi.Offsetof_jump_entry_code),
				Target: m.rel32(e + abi.Offsetof_jump_entry_target),
				Key:    (kf + k) &^ abi.JUMP_TYPE_MASK,
				Branch: k&abi.JUMP_TYPE_TRUE != 0,
			})
		}
	}
	return out
}

// Nop5 is the 5-byte NOP of jump labels and ftrace sites.
var Nop5 = [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00}

// setJumpSite writes a jmp or the NOP at one site; it reports whether the
// bytes changed.
func (m *Machine) setJumpSite(j JumpEntry, enabled bool) (bool, error) {
	want := Nop5[:]
	if enabled != j.Branch {
		rel := int64(j.Target) - int64(j.Code+5)
		if rel != int64(int32(rel)) {
			return false, fmt.Errorf("jump label at %s: target out of range", m.Syms.Format(j.Code))
		}
		want = []byte{0xe9, byte(rel), byte(rel >> 8), byte(rel >> 16), byte(rel >> 24)}
	}
	var cur [5]byte
	if err := m.Mem.Peek(j.Code, cur[:]); err != nil {
		return false, fmt.Errorf("jump label site %#x: %w", j.Code, err)
	}
	if string(cur[:]) == string(want) {
		return false, nil
	}
	if cur[0] != 0xe9 && cur != Nop5 {
		return false, fmt.Errorf("jump label site %s: unexpected bytes % x", m.Syms.Format(j.Code), cur)
	}
	return true, m.Mem.Poke(j.Code, want)
}

// JumpLabelUpdate rewrites every site of the static key at key (in all
// registered jump tables) for the key's current enabled count, as
// HC_JUMP_LABEL does, and returns the number of sites of the key.
func (m *Machine) JumpLabelUpdate(key uint64) (int, error) {
	enabled := m.rd32(key+abi.Offsetof_static_key_enabled) > 0
	n := 0
	for _, j := range m.JumpEntries("") {
		if j.Key != key {
			continue
		}
		if _, err := m.setJumpSite(j, enabled); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// JumpLabelSync makes every site of owner's jump table agree with its
// key's current state (used when a module is loaded after a key flipped).
func (m *Machine) JumpLabelSync(owner string) error {
	for _, j := range m.JumpEntries(owner) {
		if _, err := m.setJumpSite(j, m.rd32(j.Key+abi.Offsetof_static_key_enabled) > 0); err != nil {
			return err
		}
	}
	return nil
}
