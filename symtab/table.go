package symtab

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
)

// Entry is one defined symbol of a parent symbol table.
type Entry struct {
	// Num is the symbol's index in the ELF symbol table (readelf's "Num").
	Num int
	// Name is the symbol name as printed by readelf or stored in the
	// string table ("" when the symbol has no name).
	Name string
	// Value is the symbol value (the address in a linked binary, the
	// section offset in a relocatable object).
	Value uint64
	// Size is the symbol size in bytes.
	Size uint64
	// Type is the symbol type (never STT_SECTION: section symbols are
	// dropped).
	Type elf.SymType
	// Bind is the symbol binding.
	Bind elf.SymBind
	// Shndx is the section index (never SHN_UNDEF: undefined symbols are
	// dropped); SHN_ABS, SHN_COMMON and other reserved indices keep their
	// reserved value.
	Shndx elf.SectionIndex
}

// Table is a parent symbol table: its defined, non-section symbols in symbol
// table order, with name and FILE indexes built once at load time.
//
// The entries that follow an STT_FILE entry up to the next STT_FILE entry
// form that file's block; only the LOCAL entries of a block are meaningful
// (in a linked binary the globals of all files follow the last file's
// locals).
//
// A Table is immutable after loading and safe for concurrent use.
type Table struct {
	// Path names the source the table was read from (used in messages).
	Path string
	// Entries holds the symbols in symbol table order.
	Entries []Entry

	// byName maps a name to its id; spans[id] is its range in order.
	byName map[string]int32
	spans  []span
	// order holds entry indices grouped by name, ascending within a name.
	order []int32
	// files holds the indices of the STT_FILE entries, ascending.
	files []int32
	// fileByName maps a file name to the positions in files with that name.
	fileByName map[string][]int32
}

type span struct{ start, n int32 }

// Load reads a parent symbol table from path, which is either an ELF file
// (vmlinux, a .ko or a .o; recognised by its magic number) or the text
// output of "readelf -s --wide". An ELF file is read where its sections
// are, not whole: a debug vmlinux is 350-650 MB, its symbol table a few.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [4]byte
	if n, _ := io.ReadFull(f, magic[:]); IsELF(magic[:n]) {
		return ParseELF(path, f)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkReadelfText(path, data); err != nil {
		return nil, err
	}
	return ParseReadelf(path, data)
}

// checkReadelfText refuses a file that is neither ELF nor the output of
// "readelf -s --wide" (an archive, a binary, other text), which the
// lenient line parser would read as an empty table.
func checkReadelfText(path string, data []byte) error {
	const arMagic = "!<arch>\n"
	if bytes.HasPrefix(data, []byte(arMagic)) || bytes.HasPrefix(data, []byte("!<thin>\n")) {
		return fmt.Errorf("%s: an ar archive is not a symbol table: give the linked ELF file (vmlinux or a .ko) or its 'readelf -s --wide' output", path)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fmt.Errorf("%s: neither an ELF file nor 'readelf -s --wide' text (binary data: a NUL byte at offset %d)", path, i)
	}
	var f [maxFields][]byte
	for rest := data; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		nf := splitFields(line, &f)
		if nf > 1 && string(f[0]) == "Symbol" && string(f[1]) == "table" || nf > 0 && isNumField(f[0]) {
			return nil
		}
	}
	return fmt.Errorf("%s: neither an ELF file nor 'readelf -s --wide' text (no \"Symbol table\" title and no symbol line)", path)
}

// IsELF reports whether data starts with the ELF magic number.
func IsELF(data []byte) bool {
	return len(data) >= 4 && string(data[:4]) == elf.ELFMAG
}

// Len returns the number of entries.
func (t *Table) Len() int { return len(t.Entries) }

// Named returns the indices (into Entries) of the entries called name, in
// table order. The returned slice must not be modified.
func (t *Table) Named(name string) []int32 {
	id, ok := t.byName[name]
	if !ok {
		return nil
	}
	s := t.spans[id]
	return t.order[s.start : s.start+s.n : s.start+s.n]
}

// Files returns the indices (into Entries) of the STT_FILE entries, in table
// order. The returned slice must not be modified.
func (t *Table) Files() []int32 { return t.files }

// Block returns the half-open range [start, end) of entry indices forming
// the block of the STT_FILE entry at index file: the entries after it up to
// the next STT_FILE entry or the end of the table.
func (t *Table) Block(file int) (start, end int) {
	start = file + 1
	end = len(t.Entries)
	// files is ascending: find the first FILE entry after file.
	lo, hi := 0, len(t.files)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(t.files[m]) <= file {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.files) {
		end = int(t.files[lo])
	}
	return start, end
}

// FileBlocks splits the table into FILE blocks as FileBlocksOf does.
// Applied to the symbol table of an ORIG object, the result is what
// NewLookup expects.
func (t *Table) FileBlocks() []FileBlock {
	blocks, _ := FileBlocksOf(t.Entries)
	return blocks
}

// FileBlocksOf groups the symbols of the object being patched, given in
// symbol table order (all of them, or at least every STT_FILE symbol and
// the LOCAL ones), into FILE blocks: one FileBlock per STT_FILE symbol,
// holding the LOCAL FUNC and OBJECT symbols that follow it up to the next
// STT_FILE symbol. blockOf[i] is the index of the block syms[i] belongs to,
// which is the block argument Lookup.Find expects for that symbol: -1 for
// symbols before the first STT_FILE symbol and for STT_FILE symbols
// themselves. Only Name, Type and Bind of the entries are used.
func FileBlocksOf(syms []Entry) (blocks []FileBlock, blockOf []int) {
	blockOf = make([]int, len(syms))
	cur := -1
	for i, e := range syms {
		if e.Type == elf.STT_FILE {
			blocks = append(blocks, FileBlock{Name: e.Name})
			cur = len(blocks) - 1
			blockOf[i] = -1
			continue
		}
		blockOf[i] = cur
		if cur >= 0 && e.Bind == elf.STB_LOCAL && (e.Type == elf.STT_FUNC || e.Type == elf.STT_OBJECT) {
			blocks[cur].Locals = append(blocks[cur].Locals, Local{Name: e.Name, Type: e.Type})
		}
	}
	return blocks, blockOf
}

// index builds the name and file indexes; it is called once by the parsers.
func (t *Table) index() {
	n := len(t.Entries)
	ids := make([]int32, n)
	counts := make([]int32, 0, n)
	idOf := make(map[string]int32, n)
	t.fileByName = make(map[string][]int32)
	t.files = t.files[:0]
	for i := range t.Entries {
		e := &t.Entries[i]
		id, ok := idOf[e.Name]
		if !ok {
			id = int32(len(counts))
			idOf[e.Name] = id
			counts = append(counts, 0)
		}
		ids[i] = id
		counts[id]++
		if e.Type == elf.STT_FILE {
			t.fileByName[e.Name] = append(t.fileByName[e.Name], int32(len(t.files)))
			t.files = append(t.files, int32(i))
		}
	}
	// Prefix sums give each name its range in order.
	t.byName = idOf
	t.spans = make([]span, len(counts))
	starts := make([]int32, len(counts))
	var off int32
	for id, c := range counts {
		starts[id] = off
		t.spans[id] = span{off, c}
		off += c
	}
	t.order = make([]int32, n)
	for i, id := range ids {
		t.order[starts[id]] = int32(i)
		starts[id]++
	}
}

// newTable finishes a parsed table.
func newTable(path string, entries []Entry) *Table {
	t := &Table{Path: path, Entries: entries}
	t.index()
	return t
}

// typeByName and bindByName decode readelf's spellings of the accepted
// symbol types and bindings.
func typeByName(b []byte) (elf.SymType, bool) {
	switch string(b) {
	case "NOTYPE":
		return elf.STT_NOTYPE, true
	case "OBJECT":
		return elf.STT_OBJECT, true
	case "FUNC":
		return elf.STT_FUNC, true
	case "SECTION":
		return elf.STT_SECTION, true
	case "FILE":
		return elf.STT_FILE, true
	case "COMMON":
		return elf.STT_COMMON, true
	case "TLS":
		return elf.STT_TLS, true
	case "IFUNC":
		return elf.STT_GNU_IFUNC, true
	}
	return 0, false
}

func bindByName(b []byte) (elf.SymBind, bool) {
	switch string(b) {
	case "LOCAL":
		return elf.STB_LOCAL, true
	case "GLOBAL":
		return elf.STB_GLOBAL, true
	case "WEAK":
		return elf.STB_WEAK, true
	case "UNIQUE":
		return stbGNUUnique, true
	}
	return 0, false
}

func knownType(t elf.SymType) bool {
	switch t {
	case elf.STT_NOTYPE, elf.STT_OBJECT, elf.STT_FUNC, elf.STT_SECTION,
		elf.STT_FILE, elf.STT_COMMON, elf.STT_TLS, elf.STT_GNU_IFUNC:
		return true
	}
	return false
}

func knownBind(b elf.SymBind) bool {
	switch b {
	case elf.STB_LOCAL, elf.STB_GLOBAL, elf.STB_WEAK, stbGNUUnique:
		return true
	}
	return false
}

// String formats an entry like a readelf line (without the Vis column).
func (e Entry) String() string {
	return fmt.Sprintf("%d: %016x %d %v %v %d %s", e.Num, e.Value, e.Size, e.Type, e.Bind, e.Shndx, e.Name)
}

// stbGNUUnique is STB_GNU_UNIQUE, which debug/elf does not name.
const stbGNUUnique = elf.STB_LOOS
