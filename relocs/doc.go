// Package relocs holds what the diff engine and the module writer need to
// know about each architecture, chosen from an object's e_machine by
// ForMachine: the relocation types (the field each writes, PC-relative
// arithmetic, which can become livepatch relocations, which mark a
// section-symbol reference to rewrite), how a function's patchable entry
// is recognized, instruction lengths where the engine needs them, and the
// pointer size. One file per architecture fills in its Arch.
package relocs
