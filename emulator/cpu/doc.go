// Package cpu is an interpreter for the 64-bit x86 integer instruction set
// that gcc emits for kernel-style C (-O2 -mcmodel=kernel -mno-red-zone
// -mgeneral-regs-only -pg -mfentry).
//
// # Execution model
//
// A CPU owns a register file (Regs, RIP, RFLAGS, the %fs and %gs bases)
// and executes from a *mem.Memory shared with the other CPUs of the
// machine. Run executes at most a given number of instructions and returns
// why it stopped:
//
//   - StopBudget: the instruction budget ran out; RIP is the next
//     instruction. The scheduler may switch tasks here (any instruction
//     boundary; a rep string instruction can be interrupted between
//     iterations, as on hardware).
//   - StopVMCall: the task executed vmcall. RIP is past it. The hypercall
//     number is in %rax, its arguments in %rdi, %rsi, %rdx, %r10, %r8,
//     %r9; the machine puts the result in %rax and runs again.
//   - StopTrap: RIP is at an address registered with AddTrap, which has
//     not executed. The machine does what the trap stands for (an ftrace
//     trampoline, say; Return finishes it like a ret) and runs again; if
//     RIP is unchanged the instruction at the trap address then executes
//     normally, also after a Save and Restore of the context.
//   - StopHalt: hlt; RIP is past it.
//   - StopException: an exception (#DE, #BP, #UD, #PF) with the error an
//     *Exception. Faults are precise: RIP is at the faulting instruction
//     and no register, flag or memory byte was changed by it.
//   - StopUnimplemented: the instruction decodes but this CPU does not
//     implement it; the error (an *UnimplementedError, matching
//     ErrUnimplemented) names the address, symbol+offset and bytes.
//
// Registers are plain fields (Regs, RIP, FSBase, GSBase); RFLAGS has
// accessors because arithmetic flags are kept lazily. Save and Restore
// move a task's whole Context, shadow stack included, in and out of the
// CPU. Call, Return, Push and Pop let Go code act on the current context
// as the corresponding instructions would.
//
// One executed instruction (or one iteration of a rep string
// instruction) is one unit of virtual time; Insns counts them.
//
// # Decoding
//
// Instructions are decoded with golang.org/x/arch/x86/x86asm and
// translated once into a flat internal form with pre-resolved operands
// (RIP-relative addresses become absolute), grouped into basic blocks and
// cached per address. A block remembers the generation of the memory pages
// it was decoded from and is decoded again once they are written or
// re-protected. Gaps of x86asm are handled here: vmcall and endbr64 are
// recognised before the decoder sees them, `rep bsf` (reported as TZCNT)
// runs as bsf unless the configured CPUID advertises BMI1, and indirect
// jumps and calls always use 64-bit targets.
//
// Arithmetic flags are computed lazily from the last flag-setting
// operation and are exact for CF, PF, AF, ZF, SF and OF wherever the
// architecture defines them.
//
// # Unwinding
//
// Every CPU keeps a shadow call stack: call pushes a Frame (return
// address, callee, stack pointer) and ret pops it. It is part of the
// Context that Save and Restore move between tasks, and is the target's
// reliable unwinder. WalkFramePointers follows the %rbp chain as a second,
// independent unwinder.
package cpu
