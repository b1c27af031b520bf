// Package kallsyms is the symbol table of the running target: every
// symbol of vmlinux and of each loaded module, in link order, as Linux's
// kallsyms presents them to the livepatch core.
//
// Symbols are kept per object ("vmlinux" or a module name) in the order
// of the object's ELF symbol table, which for a linked vmlinux is link
// order (the local symbols of each object file in turn, then the
// globals). Within one object, symbols that share a name are numbered
// 1, 2, 3... by position: that number is the sympos a live patch uses to
// pick one of several static functions with the same name. A unique name
// has sympos 1 and may also be asked for with sympos 0.
package kallsyms
