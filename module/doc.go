// Package module builds the final live-patch module from the diff
// objects: it turns the intermediate klp tables that the diff engine
// emits (.kpatch.relocations and .kpatch.symbols) into the upstream
// livepatch format, relocation sections named .klp.rela.OBJ.SEC flagged
// SHF_RELA_LIVEPATCH against symbols named .klp.sym.OBJ.NAME,POS with
// section index SHN_LIVEPATCH, which the livepatch core resolves against
// the running kernel (or a module, when it loads) with kallsyms and sympos.
//
// Two builds share the hook (hook/livepatch-patch-hook.c, which registers a
// klp_patch with its objects, functions and callbacks) and the linker script
// that gathers the .kpatch.* tables (hook/kpatch.lds): Build links for the
// bundled emulated kernel with ld directly; BuildKbuild has a real kernel
// tree's kbuild link the module, so modpost gives it the tree's vermagic and
// symbol versions. MacrosHeader is the patch-author API (kpatch-macros.h).
package module
