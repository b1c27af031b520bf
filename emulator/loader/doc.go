// Package loader is the target's module loader: it lays out a
// relocatable .ko in the module area, resolves its undefined symbols
// against the symbols exported by vmlinux (its __ksymtab, what
// Module.symvers lists) and by modules already loaded, applies its
// x86-64 relocations, registers its special tables (bug, exception and
// jump tables, mcount sites, kallsyms, exports) and runs init_module.
// Unloading runs cleanup_module and undoes all of it in reverse.
//
// Loader.Load follows Linux's load_module, one function per phase, each
// naming its Linux counterpart: setupLoadInfo, layoutAndAllocate,
// simplifySymbols, applyRelocations, enableProtection, addExports,
// addKallsyms, findModuleSections, completeFormation,
// prepareComingModule (the Coming hook) and doInitModule.
//
// ApplyRela is the one x86-64 relocation apply of the target: the loader
// uses it for a module's .rela sections and the livepatch core for a
// patch's .klp.rela sections; what each type writes, and its range, come
// from the project's relocation table (relocs.Arch.Field).
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
