package symtab

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
)

// ParseELF reads the .symtab of an ELF file (path is used in error messages
// only). Entries keep symbol table order, STT_FILE entries included;
// undefined and STT_SECTION symbols are dropped exactly as ParseReadelf drops
// them, so both forms of the same file give the same entries. Extended
// section indices (SHN_XINDEX) are resolved through SHT_SYMTAB_SHNDX. Panics
// raised by debug/elf on malformed input are returned as errors.
func ParseELF(path string, r io.ReaderAt) (t *Table, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%s: malformed ELF file: %v", path, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("%s: no symbol table", path)
		}
		return nil, fmt.Errorf("%s: reading symbols: %w", path, err)
	}
	var xindex []byte
	for _, s := range syms {
		if s.Section == elf.SHN_XINDEX {
			if xindex, err = symtabShndx(f); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			break
		}
	}
	entries := make([]Entry, 0, len(syms))
	for i, s := range syms {
		num := i + 1 // Symbols omits the null symbol at index 0
		typ, bind := elf.ST_TYPE(s.Info), elf.ST_BIND(s.Info)
		if !knownType(typ) {
			return nil, fmt.Errorf("%s: symbol %d (%q): unknown symbol type %d", path, num, s.Name, typ)
		}
		if !knownBind(bind) {
			return nil, fmt.Errorf("%s: symbol %d (%q): unknown symbol bind %d", path, num, s.Name, bind)
		}
		shndx := s.Section
		if shndx == elf.SHN_XINDEX {
			off := 4 * num
			if off+4 > len(xindex) {
				return nil, fmt.Errorf("%s: symbol %d (%q): extended section index out of range", path, num, s.Name)
			}
			shndx = elf.SectionIndex(f.ByteOrder.Uint32(xindex[off:]))
		}
		if shndx == elf.SHN_UNDEF || typ == elf.STT_SECTION {
			continue
		}
		entries = append(entries, Entry{
			Num:   num,
			Name:  s.Name,
			Value: s.Value,
			Size:  s.Size,
			Type:  typ,
			Bind:  bind,
			Shndx: shndx,
		})
	}
	return newTable(path, entries), nil
}

// symtabShndx returns the contents of the SHT_SYMTAB_SHNDX section belonging
// to .symtab.
func symtabShndx(f *elf.File) ([]byte, error) {
	symtab := -1
	for i, s := range f.Sections {
		if s.Type == elf.SHT_SYMTAB {
			symtab = i
			break
		}
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_SYMTAB_SHNDX && int(s.Link) == symtab {
			return s.Data()
		}
	}
	return nil, fmt.Errorf("symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section")
}
