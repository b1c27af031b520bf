// Package abi holds the numbers and layouts the Go machine and the
// bundled C kernel share: hypercall numbers, task and livepatch flags,
// and the offset and size of every member of the structures the machine
// reads or writes in kernel memory (task_struct, the klp_* structures,
// the special sections' entries).
//
// They are not written by hand: zabi.go is generated from the kernel's
// headers (emulator/kernel/include, emulator/kernel/arch/x86/include) by
// compiling them with gcc and reading the object's data and DWARF. After
// changing a header, run
//
//	go generate ./emulator/abi
//
// Names keep C's spelling, so a reader who knows the header knows the
// code: a macro under its own name (HC_CONSOLE_WRITE), a structure's
// size as Sizeof_TAG, a member's offset and size as Offsetof_TAG_MEMBER
// and Sizeof_TAG_MEMBER (Offsetof_klp_patch_objs).
//
// TestDrift compiles the headers again and fails, naming the constant
// with its C and Go values, when a value differs, when a header defines
// an ABI macro or member Go does not have (a new HC_* hypercall among
// them, in whatever header it is), or when Go has one C no longer
// defines.
package abi

//go:generate go run ./internal/gen

// value is one generated constant, for the drift test.
type value struct {
	name string
	v    int64
}
