// Package symtab reads the symbol table of the kernel object being patched
// (the "parent": vmlinux or the original module) and the kernel's
// Module.symvers, and answers the symbol look-ups create-diff-object needs to
// decide between normal and livepatch (klp) relocations.
//
// A parent symbol table is loaded with [Load], either from the text output of
// "readelf -s --wide" or directly from an ELF file; [ParseReadelf] and
// [ParseELF] do the same from memory. Module.symvers is read with
// [LoadSymvers] or [ParseSymvers].
//
// [NewLookup] ties a parent [Table], its [Symvers] and the FILE blocks of the
// object being patched together. It matches every object FILE block to
// exactly one FILE block of the parent table (same file name, same set of
// local function and object names, modulo names the linker may discard), so
// that same-named static symbols of different source files can be told
// apart. [Lookup.Find] then resolves a name in the order local (inside the
// matched parent FILE block), global (GLOBAL or WEAK anywhere in the table),
// exported (Module.symvers), reporting the address, size, sympos and owning
// object the livepatch metadata needs.
//
// Semantics follow kpatch's lookup code: a local symbol's sympos is the
// 1-based count of same-named LOCAL symbols of the whole table whose address
// is at most the chosen one's (so a unique local gets 1); globals and
// exported symbols get sympos 0.
package symtab
