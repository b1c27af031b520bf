// Package module builds the final live-patch module from the diff
// objects: it turns the intermediate klp tables that the diff engine
// emits (.kpatch.relocations and .kpatch.symbols) into the upstream
// livepatch format, relocation sections named .klp.rela.OBJ.SEC flagged
// SHF_RELA_LIVEPATCH against symbols named .klp.sym.OBJ.NAME,POS with
// section index SHN_LIVEPATCH, which the livepatch core resolves against
// the running kernel (or a module, when it loads) with kallsyms and sympos.
package module
