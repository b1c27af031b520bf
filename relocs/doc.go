// Package relocs holds what the diff engine and the module writer need to
// know about relocation types, per architecture (x86-64 first): which byte
// of the target a relocation designates, which types are absolute pointers,
// and which are calls, so that section-symbol references can be rewritten
// to symbol references and relocations compared across builds.
package relocs
