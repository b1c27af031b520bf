// Package elfobj holds an ELF64 relocatable object (ET_REL) in memory:
// sections, symbols, relocations and section groups, linked to each other
// by pointers rather than indices, so that a program can add, drop and
// reorder them and write the result back.
//
// Read parses an object from bytes without trusting any index or offset
// in it: every malformed header, section, symbol or relocation is an error
// that names the file and the element. Write lays out a fresh object from
// the model: it regenerates the string tables, the symbol table (including
// SHT_SYMTAB_SHNDX when section indices exceed SHN_LORESERVE), the data of
// every SHT_RELA and SHT_GROUP section from their lists, and the file
// offsets. Where the model still matches what Read parsed (the same
// symbols under the same names, the same sections with the same sizes), Write
// reuses the input's string tables and file offsets, so an object read and
// written unchanged comes back byte for byte, in either byte order.
//
// Relocation types are kept as numbers and interpreted by package relocs.
// Both byte orders are supported (big-endian s390x objects as well as
// little-endian ones), except that the reader refuses a byte
// order the file's machine cannot have (a big-endian x86-64 object is a
// corrupt one); ELF32 is refused.
package elfobj
