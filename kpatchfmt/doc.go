// Package kpatchfmt owns the kpatch intermediate format: the tables that the
// diff engine (elfdiff) writes into each output object and that the module
// builder (module) reads back, links and converts.
//
// The format is a set of ELF sections whose records hold addresses and
// pointers that are filled in by relocations, so records of different
// objects can be linked together with ld -r:
//
//   - .kpatch.funcs: one kpatch_patch_func per changed function (new_addr,
//     new_size, old_addr, old_size, sympos, name, objname);
//   - .kpatch.relocations: one kpatch_relocation per relocation the
//     livepatch core must resolve (dest, type, external, addend, objname,
//     ksym), each pointing at its kpatch_symbol;
//   - .kpatch.symbols: one kpatch_symbol per such relocation (src, sympos,
//     bind, type, name, objname);
//   - .kpatch.callbacks.{pre,post}_{patch,unpatch}: {fn, objname} pairs
//     written by the patch author's macros; the diff engine sets objname;
//   - .kpatch.strings: the NUL-terminated names the pointer fields point
//     at, each string stored once.
//
// A Layout gives the records' sizes and field offsets for a pointer size
// and byte order (every supported architecture is 64-bit today: x86-64,
// ppc64le, s390x big-endian, aarch64, loongarch64). A Writer builds the
// tables' contents and relocations; a Reader decodes them, leniently for
// listings (Funcs, Relocations, Callbacks) or strictly (ReadRelocations).
package kpatchfmt
