// Package relocs holds what the diff engine and the module writer need to
// know about each architecture, chosen from an object's e_machine by
// ForMachine: the relocation types (the field each writes, PC-relative
// arithmetic, which can become livepatch relocations, which mark a
// section-symbol reference to rewrite), how a function's patchable entry
// is recognized, instruction lengths where the engine needs them, and the
// pointer size. One file per architecture fills in its Arch.
//
// Adding an architecture: fill in its variable in its own file (drop the
// unsupported error), list every relocation type its kernel objects use
// (a missing type is refused rather than guessed), say how its ftrace
// entry is recognized (EntryCall or EntryPatchable), give Decode when a
// relocation's target depends on instruction boundaries or a line-macro
// check is wanted, and mark its special sections in package sections.
// The corpus test then runs its folder of the kpatch unit objects.
package relocs
