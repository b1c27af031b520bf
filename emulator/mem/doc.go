// Package mem implements the sparse, paged memory of the emulated x86-64
// target: one flat address space with no page tables or physical memory.
//
// Memory is a map of 4 KiB pages, each with its own read, write and
// execute permissions. Pages are mapped, unmapped and re-protected in
// page-aligned ranges. Every access is checked against the permissions of
// the pages it touches; a failing access returns a *Fault that carries the
// faulting address and the kind of access, which the CPU turns into a
// page fault (#PF).
//
// Aligned little-endian accesses of 1, 2, 4 and 8 bytes go through a small
// direct-mapped translation cache (one for reads, one for writes), so the
// common case costs a shift, a compare and a load. Accesses that straddle
// a page boundary are handled byte by byte and are atomic with respect to
// faults: either every byte is accessed or none is.
//
// Each page carries a generation counter that changes whenever the page's
// contents or permissions change or the page is unmapped. The CPU records
// the generation of every page it decoded instructions from and throws
// the decoded code away when the generation moves, so writes to text (by
// ftrace, the module loader or the kernel itself) take effect. Since any
// write moves the generation, code should not share pages with data that
// is written often: that would only cost re-decoding, never correctness.
//
// Poke and Peek ignore permissions, as text_poke and a debugger do; every
// other access checks them.
//
// A Memory is not safe for concurrent use; the machine drives all CPUs
// from one goroutine.
package mem
