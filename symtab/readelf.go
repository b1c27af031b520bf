package symtab

import (
	"bytes"
	"debug/elf"
	"fmt"
	"strconv"
)

// maxFields bounds the number of whitespace-separated fields of a readelf
// symbol line the parser looks at.
const maxFields = 16

// ParseReadelf parses the text output of "readelf -s --wide" (path is used
// in error messages only).
//
// Symbol lines have the fields Num ("N:"), Value (hex), Size (decimal, or
// 0x-prefixed hex for large sizes), Type, Bind, Vis (ignored, together with
// any bracketed annotation readelf prints after it, such as ppc64's
// "[<localentry>: 8]"), Ndx and Name (possibly absent, meaning ""). Only the
// first field after Ndx is the name; anything further (version suffixes like
// " (2)" that readelf prints in .dynsym) is ignored. Lines whose first field
// is not "N:" (titles, headers, blank lines) are skipped, as are the blocks
// of a "Symbol table '.dynsym'" title (up to the next "Symbol table
// '.symtab'" title). Undefined (Ndx UND) and STT_SECTION entries are
// dropped. An unknown type, bind or Ndx spelling, or a malformed Value or
// Size, is an error naming the line.
func ParseReadelf(path string, data []byte) (*Table, error) {
	entries := make([]Entry, 0, bytes.Count(data, []byte{'\n'})+1)
	// Names are collected into one arena and turned into a single string at
	// the end, so the table holds one allocation for all names.
	var arena []byte
	var nameEnd []int32
	skip := false
	var f [maxFields][]byte
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		nf := splitFields(line, &f)
		if nf == 0 {
			continue
		}
		if string(f[0]) == "Symbol" && nf > 1 && string(f[1]) == "table" {
			if bytes.Contains(line, []byte(".dynsym")) {
				skip = true
			} else if bytes.Contains(line, []byte(".symtab")) {
				skip = false
			}
			continue
		}
		if skip || !isNumField(f[0]) {
			continue
		}
		e, name, keep, err := parseSymLine(f[:nf])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %q", path, lineNo, err, bytes.TrimSpace(line))
		}
		if !keep {
			continue
		}
		arena = append(arena, name...)
		nameEnd = append(nameEnd, int32(len(arena)))
		entries = append(entries, e)
	}
	names := string(arena)
	var prev int32
	for i := range entries {
		entries[i].Name = names[prev:nameEnd[i]]
		prev = nameEnd[i]
	}
	return newTable(path, entries), nil
}

// splitFields splits line at blanks into f and returns the number of fields
// (at most maxFields; the last one holds nothing of the rest).
func splitFields(line []byte, f *[maxFields][]byte) int {
	n := 0
	i := 0
	for n < maxFields {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
			i++
		}
		if i >= len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
			j++
		}
		f[n] = line[i:j]
		n++
		i = j
	}
	return n
}

// isNumField reports whether b looks like readelf's "N:" column.
func isNumField(b []byte) bool {
	if len(b) < 2 || b[len(b)-1] != ':' {
		return false
	}
	for _, c := range b[:len(b)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseSymLine decodes the fields of one symbol line. keep is false for
// entries that are dropped (UND, SECTION).
func parseSymLine(f [][]byte) (e Entry, name []byte, keep bool, err error) {
	if len(f) < 7 {
		return e, nil, false, fmt.Errorf("truncated symbol line")
	}
	num, ok := parseDec(f[0][:len(f[0])-1])
	if !ok || num > 1<<31-1 {
		return e, nil, false, fmt.Errorf("bad symbol number %q", f[0])
	}
	e.Num = int(num)
	if e.Value, ok = parseHex(f[1]); !ok {
		return e, nil, false, fmt.Errorf("bad symbol value %q", f[1])
	}
	if e.Size, ok = parseSize(f[2]); !ok {
		return e, nil, false, fmt.Errorf("bad symbol size %q", f[2])
	}
	typ, ok := typeByName(f[3])
	if !ok {
		return e, nil, false, fmt.Errorf("unknown symbol type %q", f[3])
	}
	e.Type = typ
	bind, ok := bindByName(f[4])
	if !ok {
		return e, nil, false, fmt.Errorf("unknown symbol bind %q", f[4])
	}
	e.Bind = bind
	// f[5] is Vis; skip it and a bracketed annotation that may follow.
	i := 6
	if len(f[i]) > 0 && f[i][0] == '[' {
		for i < len(f) && f[i][len(f[i])-1] != ']' {
			i++
		}
		i++
	}
	if i >= len(f) {
		return e, nil, false, fmt.Errorf("missing section index")
	}
	ndx := f[i]
	i++
	// readelf spells OS-specific indices "OS [0xNNNN]" (two fields).
	if string(ndx) == "OS" && i < len(f) && bytes.HasPrefix(f[i], []byte("[0x")) {
		ndx = append(append([]byte("OS"), ' '), f[i]...)
		i++
	}
	shndx, undef, ok := parseNdx(ndx)
	if !ok {
		return e, nil, false, fmt.Errorf("unknown section index %q", ndx)
	}
	e.Shndx = shndx
	if i < len(f) {
		name = f[i]
	}
	if undef || typ == elf.STT_SECTION {
		return e, nil, false, nil
	}
	return e, name, true, nil
}

func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// parseSize reads a size the way strtoul with base 0 does: 0x-prefixed hex,
// 0-prefixed octal, or decimal (but, unlike strtoul, rejects trailing junk).
func parseSize(b []byte) (uint64, bool) {
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		return parseHex(b[2:])
	}
	if len(b) > 1 && b[0] == '0' {
		v, err := strconv.ParseUint(string(b[1:]), 8, 64)
		return v, err == nil
	}
	return parseDec(b)
}

// parseNdx decodes readelf's Ndx column.
func parseNdx(b []byte) (ndx elf.SectionIndex, undef, ok bool) {
	switch string(b) {
	case "UND":
		return elf.SHN_UNDEF, true, true
	case "ABS":
		return elf.SHN_ABS, false, true
	case "COM":
		return elf.SHN_COMMON, false, true
	case "LARGE_COM":
		return 0xff02, false, true // SHN_X86_64_LCOMMON
	}
	if v, ok := parseDec(b); ok {
		if v > 0xffffffff {
			return 0, false, false
		}
		return elf.SectionIndex(v), v == 0, true
	}
	// PRC[0xNNNN], OS [0xNNNN], RSV[0xNNNN]
	if i := bytes.Index(b, []byte("[0x")); i > 0 && b[len(b)-1] == ']' {
		switch string(b[:i]) {
		case "PRC", "OS ", "RSV":
			v, ok := parseHex(b[i+3 : len(b)-1])
			if ok && v <= 0xffff {
				return elf.SectionIndex(v), v == 0, true
			}
		}
	}
	return 0, false, false
}
