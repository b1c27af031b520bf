// Package ftrace is the function tracer of the target, the mechanism a
// live patch uses to redirect calls.
//
// Every kernel and module function starts with a 5-byte "call
// __fentry__" (gcc -pg -mfentry), listed in __mcount_loc. At boot (and
// when a module loads) each site becomes the 5-byte NOP 0f 1f 44 00 00.
// Registering the first Ops on a function turns its site into a call to
// a trampoline; the trampoline traps into Go with the registers, calls
// every Ops of the function in registration order, and returns into the
// function, or, if an Ops with FlagIPModify changed Regs.IP, continues
// at that address instead (the new function of a live patch runs in
// place of the old one and returns straight to the caller). Removing
// the last Ops restores the NOP bytes exactly.
package ftrace
