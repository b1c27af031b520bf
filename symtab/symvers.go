package symtab

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"strings"
)

// Export is one Module.symvers entry.
type Export struct {
	// Name is the exported symbol (the second column).
	Name string
	// Module is the module column as written ("vmlinux",
	// "drivers/net/foo-bar", ...).
	Module string
	// ObjName is the object that defines the symbol: the base name of
	// Module with every '-' replaced by '_' ("vmlinux", "foo_bar").
	ObjName string
}

// Symvers is a parsed Module.symvers. The zero value, and the result of
// parsing an empty file (such as /dev/null), holds no exports.
type Symvers struct {
	// Path names the source (used in messages).
	Path string
	// Exports holds the entries in file order.
	Exports []Export

	first map[string]int32 // name -> index of its first entry
	dup   map[string]bool  // names exported more than once
}

// LoadSymvers reads a Module.symvers file (see ParseSymvers).
func LoadSymvers(path string) (*Symvers, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSymvers(path, data)
}

// ParseSymvers parses Module.symvers text (name is used in error messages
// only). Lines are tab-separated: CRC, symbol, then module, export type and
// namespace in an order that depends on the kernel version, so the module
// column is found by looking for "vmlinux": it is, on the first line that
// has one, the (last) column from the third on whose field starts with
// "vmlinux". A non-empty file without such a column is an error ("invalid
// format"). Every other non-empty line must parse: a 0x-prefixed hex CRC,
// a symbol and a module field, else the error names the line. Empty input
// means no exports.
func ParseSymvers(name string, data []byte) (*Symvers, error) {
	sv := &Symvers{Path: name}
	if len(data) == 0 {
		return sv, nil
	}
	modCol := -1
	for rest := data; len(rest) > 0 && modCol < 0; {
		var line []byte
		line, rest = nextLine(rest)
		col := 0
		for len(line) > 0 {
			var field []byte
			if i := bytes.IndexByte(line, '\t'); i >= 0 {
				field, line = line[:i], line[i+1:]
			} else {
				field, line = line, nil
			}
			if col >= 2 && bytes.HasPrefix(field, []byte("vmlinux")) {
				modCol = col
			}
			col++
		}
	}
	if modCol < 0 {
		return nil, &Error{Kind: ErrInvalidSymvers,
			Msg: fmt.Sprintf("%s: Module.symvers: invalid format (no column starting with vmlinux)", name)}
	}
	objNames := make(map[string]string)
	for rest, lineNo := data, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = nextLine(rest)
		if len(line) == 0 {
			continue
		}
		if err := checkSymversLine(line, modCol); err != "" {
			return nil, &Error{Kind: ErrInvalidSymvers,
				Msg: fmt.Sprintf("%s:%d: not a Module.symvers line (%s): %q", name, lineNo, err, line)}
		}
		var sym, mod []byte
		col := 0
		for len(line) > 0 && col <= modCol {
			var field []byte
			if i := bytes.IndexByte(line, '\t'); i >= 0 {
				field, line = line[:i], line[i+1:]
			} else {
				field, line = line, nil
			}
			switch col {
			case 1:
				sym = field
			case modCol:
				mod = field
			}
			col++
		}
		if len(sym) == 0 || len(mod) == 0 {
			continue // not reached: checkSymversLine saw both
		}
		m := string(mod)
		obj, ok := objNames[m]
		if !ok {
			obj = strings.ReplaceAll(path.Base(m), "-", "_")
			objNames[m] = obj
		}
		sv.Exports = append(sv.Exports, Export{Name: string(sym), Module: m, ObjName: obj})
	}
	sv.index()
	return sv, nil
}

// checkSymversLine returns what is wrong with a Module.symvers line, or "".
func checkSymversLine(line []byte, modCol int) string {
	fields := bytes.Split(line, []byte{'\t'})
	if len(fields) <= modCol {
		return fmt.Sprintf("%d tab-separated fields, want at least %d", len(fields), modCol+1)
	}
	crc, ok := bytes.CutPrefix(fields[0], []byte("0x"))
	if !ok || len(crc) == 0 || len(crc) > 16 {
		return "the first field is not a 0x-prefixed CRC"
	}
	for _, c := range crc {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "the first field is not a 0x-prefixed CRC"
		}
	}
	if len(fields[1]) == 0 || bytes.ContainsAny(fields[1], " \x00") {
		return "bad symbol field"
	}
	if len(fields[modCol]) == 0 {
		return "empty module field"
	}
	return ""
}

// nextLine splits off the first line of data, without its "\n" or "\r\n".
func nextLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line, rest = data[:i], data[i+1:]
	} else {
		line = data
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

func (sv *Symvers) index() {
	sv.first = make(map[string]int32, len(sv.Exports))
	for i, e := range sv.Exports {
		if _, ok := sv.first[e.Name]; ok {
			if sv.dup == nil {
				sv.dup = make(map[string]bool)
			}
			sv.dup[e.Name] = true
			continue
		}
		sv.first[e.Name] = int32(i)
	}
}

// Len returns the number of exports.
func (sv *Symvers) Len() int {
	if sv == nil {
		return 0
	}
	return len(sv.Exports)
}

// IsExported reports whether name appears in Module.symvers (duplicates are
// not an error here).
func (sv *Symvers) IsExported(name string) bool {
	if sv == nil || sv.first == nil {
		return false
	}
	_, ok := sv.first[name]
	return ok
}

// Lookup returns the export entry for name. A name exported more than once
// is an error ("duplicate exported symbol found for NAME").
func (sv *Symvers) Lookup(name string) (Export, bool, error) {
	if sv == nil || sv.first == nil {
		return Export{}, false, nil
	}
	i, ok := sv.first[name]
	if !ok {
		return Export{}, false, nil
	}
	if sv.dup[name] {
		return Export{}, false, &Error{Kind: ErrDuplicateSymbol,
			Msg: fmt.Sprintf("duplicate exported symbol found for %s", name)}
	}
	return sv.Exports[i], true, nil
}
