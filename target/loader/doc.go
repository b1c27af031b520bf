// Package loader is the target's module loader: it lays out a
// relocatable .ko in the module area, resolves its undefined symbols
// against the symbols exported by vmlinux (its __ksymtab, what
// Module.symvers lists) and by modules already loaded, applies its
// x86-64 relocations, registers its special tables (bug, exception and
// jump tables, mcount sites, kallsyms, exports) and runs init_module.
// Unloading runs cleanup_module and undoes all of it in reverse.
//
// A load either succeeds completely or leaves nothing behind: no page
// mapped, no table or symbol registered. Errors name the module and the
// symbol, section or relocation type at fault.
//
// Livepatch relocation sections (.klp.rela.*, flagged SHF_RELA_LIVEPATCH)
// are not applied here: they are kept in Module.KlpRelas for the
// livepatch core, which applies them when the object they refer to is
// present (see Module.KlpRelas and Loader.SymbolAddr).
package loader
