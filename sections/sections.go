// Package sections is the table of the kernel's special sections: the
// sections whose entries describe code elsewhere (bug sites, exception
// fixups, jump labels, alternatives, ...), which a patch object must carry
// only for the functions it contains.
//
// Each rule names the section, the architectures that have it, where the
// size of one entry comes from, how entries are grouped and which filter
// decides whether an entry may be kept. The diff engine walks this table
// in order (.fixup must precede __ex_table).
package sections

import (
	"debug/elf"
	"strings"
)

// Grouping tells how a section is cut into entries.
type Grouping int

const (
	// Fixed entries of Rule.Size bytes, or of the size in Rule.SizeEnv.
	Fixed Grouping = iota
	// FixupGroups cuts .fixup at the offsets __ex_table entries point to.
	FixupGroups
)

// Filter is an extra condition an entry must meet to be kept.
type Filter int

const (
	// NoFilter keeps every entry that refers to an included function.
	NoFilter Filter = iota
	// JumpLabel checks the key of each __jump_table entry.
	JumpLabel
	// StaticCall checks the key of each .static_call_sites entry.
	StaticCall
)

// Rule describes one special section.
type Rule struct {
	Name string
	// Arches lists the machines that have the section.
	Arches []elf.Machine
	// SizeEnv is the environment variable holding the entry size (the
	// size of the kernel's struct), read only when the section exists
	// and has relocations; empty when Size is fixed.
	SizeEnv string
	// Size is the fixed entry size when SizeEnv is empty.
	Size     int
	Grouping Grouping
	Filter   Filter
	// Relocs is the number of relocations every entry must have, or 0
	// for no check.
	Relocs int
	// Companion is a section that must be included whole when any entry
	// of this one is kept (.altinstr_replacement for .altinstructions).
	Companion string
}

var (
	x86     = elf.EM_X86_64
	ppc     = elf.EM_PPC64
	s390    = elf.EM_S390
	arm64   = elf.EM_AARCH64
	larch   = elf.EM_LOONGARCH
	allArch = []elf.Machine{x86, ppc, s390, arm64, larch}
)

// Rules is the table, in processing order.
var Rules = []Rule{
	{Name: "__bug_table", Arches: allArch, SizeEnv: "BUG_STRUCT_SIZE"},
	{Name: ".fixup", Arches: allArch, Grouping: FixupGroups},
	{Name: "__ex_table", Arches: allArch, SizeEnv: "EX_STRUCT_SIZE"},
	{Name: "__jump_table", Arches: allArch, SizeEnv: "JUMP_STRUCT_SIZE", Filter: JumpLabel, Relocs: 3},
	{Name: ".printk_index", Arches: []elf.Machine{x86, ppc, s390, arm64}, SizeEnv: "PRINTK_INDEX_STRUCT_SIZE"},
	{Name: ".smp_locks", Arches: []elf.Machine{x86}, Size: 4},
	{Name: ".parainstructions", Arches: []elf.Machine{x86}, SizeEnv: "PARA_STRUCT_SIZE"},
	{Name: ".altinstructions", Arches: []elf.Machine{x86, arm64, s390, larch}, SizeEnv: "ALT_STRUCT_SIZE", Companion: ".altinstr_replacement"},
	{Name: ".static_call_sites", Arches: []elf.Machine{x86}, SizeEnv: "STATIC_CALL_STRUCT_SIZE", Filter: StaticCall, Relocs: 2},
	{Name: ".call_sites", Arches: []elf.Machine{x86}, Size: 4},
	{Name: ".retpoline_sites", Arches: []elf.Machine{x86}, Size: 4},
	{Name: ".return_sites", Arches: []elf.Machine{x86}, Size: 4},
	{Name: "__ftr_fixup", Arches: []elf.Machine{ppc}, SizeEnv: "FIXUP_STRUCT_SIZE"},
	{Name: "__mmu_ftr_fixup", Arches: []elf.Machine{ppc}, SizeEnv: "FIXUP_STRUCT_SIZE"},
	{Name: "__fw_ftr_fixup", Arches: []elf.Machine{ppc}, SizeEnv: "FIXUP_STRUCT_SIZE"},
	{Name: "__lwsync_fixup", Arches: []elf.Machine{ppc}, Size: 8},
	{Name: "__barrier_nospec_fixup", Arches: []elf.Machine{ppc}, Size: 8},
	{Name: ".s390_return_mem", Arches: []elf.Machine{s390}, Size: 4},
	{Name: ".s390_return_reg", Arches: []elf.Machine{s390}, Size: 4},
	{Name: ".s390_indirect_call", Arches: []elf.Machine{s390}, Size: 4},
	{Name: ".s390_indirect_branches", Arches: []elf.Machine{s390}, Size: 4},
	{Name: ".s390_indirect_jump", Arches: []elf.Machine{s390}, Size: 4},
	// gcc -mstack-protector-guard-record: one pointer to each load of the
	// stack guard, which the kernel patches when it loads the code.
	{Name: "__stack_protector_loc", Arches: []elf.Machine{s390}, Size: 8},
}

// For reports whether the rule applies to machine m.
func (r *Rule) For(m elf.Machine) bool {
	for _, a := range r.Arches {
		if a == m {
			return true
		}
	}
	return false
}

// ORC describes the ORC unwinder tables, regenerated separately: one entry
// of ORCSizeEnv bytes in ORCUnwind per 4-byte relocated address in ORCIP.
const (
	ORCUnwind  = ".orc_unwind"
	ORCIP      = ".orc_unwind_ip"
	ORCSizeEnv = "ORC_STRUCT_SIZE"
)

// Regenerated are sections never compared: the engine rebuilds them for
// the output (__mcount_loc) or drops them.
var Regenerated = []string{"__mcount_loc", "__patchable_function_entries", ".sframe"}

// RuntimeConst lists the prefixes of the sections of the kernel's runtime
// constants (x86's asm/runtime-const.h, 6.11 and later): runtime_ptr_SYM
// and runtime_shift_SYM hold one 32-bit PC-relative offset to each
// instruction immediate that vmlinux's init code overwrites with SYM's
// value at boot (runtime_const_init). Only vmlinux's own are written, and
// only once: a live patch's copy of a function that uses one would keep
// the build-time placeholder, so the diff engine refuses it.
var RuntimeConst = []string{"runtime_ptr_", "runtime_shift_"}

// RuntimeConstant returns the constant a runtime-constant section is for
// (USER_PTR_MAX for runtime_ptr_USER_PTR_MAX), or false if name is not
// one.
func RuntimeConstant(name string) (string, bool) {
	for _, p := range RuntimeConst {
		if c, ok := strings.CutPrefix(name, p); ok && c != "" {
			return c, true
		}
	}
	return "", false
}
