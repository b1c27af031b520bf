package symtab

import (
	"debug/elf"
	"fmt"
	"strings"
)

// readelfText builds "readelf -s --wide"-style text from compact rows
// "value size TYPE BIND ndx name".
func readelfText(rows ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nSymbol table '.symtab' contains %d entries:\n", len(rows)+1)
	b.WriteString("   Num:    Value          Size Type    Bind   Vis      Ndx Name\n")
	b.WriteString("     0: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT  UND \n")
	for i, r := range rows {
		f := strings.Fields(r)
		for len(f) < 6 {
			f = append(f, "")
		}
		var v uint64
		fmt.Sscanf(f[0], "%x", &v)
		fmt.Fprintf(&b, "%6d: %016x %5s %-7s %-6s DEFAULT %4s %s\n", i+1, v, f[1], f[2], f[3], f[4], f[5])
	}
	return b.String()
}

// synthReadelf builds a vmlinux-like readelf text with about n symbols:
// files of perFile locals each (all locals of a file right after its FILE
// entry, some static names repeated across files), then all globals.
func synthReadelf(n, perFile int) string {
	var b strings.Builder
	b.Grow(n * 80)
	fmt.Fprintf(&b, "\nSymbol table '.symtab' contains %d entries:\n", n)
	b.WriteString("   Num:    Value          Size Type    Bind   Vis      Ndx Name\n")
	num := 0
	addr := uint64(0xffffffff81000000)
	line := func(typ, bind, ndx, name string, size int) {
		num++
		fmt.Fprintf(&b, "%6d: %016x %5d %-7s %-6s DEFAULT %4s %s\n", num, addr, size, typ, bind, ndx, name)
		addr += uint64(size)
	}
	nfiles := n / 2 / (perFile + 1)
	for f := 0; f < nfiles; f++ {
		line("FILE", "LOCAL", "ABS", fmt.Sprintf("file%d.c", f%(nfiles/2+1)), 0)
		for j := 0; j < perFile; j++ {
			name := fmt.Sprintf("static_%d_%d", f, j)
			if j == 0 {
				name = "init_once" // repeated in every file
			}
			typ := "FUNC"
			if j%3 == 2 {
				typ = "OBJECT"
			}
			line(typ, "LOCAL", "1", name, 64)
		}
	}
	for num < n {
		line("FUNC", "GLOBAL", "1", fmt.Sprintf("global_%d", num), 32)
	}
	return b.String()
}

// synthBlock returns the object FILE block for file f (of nfiles) of
// synthReadelf.
func synthBlock(f, perFile, nfiles int) FileBlock {
	b := FileBlock{Name: fmt.Sprintf("file%d.c", f%(nfiles/2+1))}
	for j := 0; j < perFile; j++ {
		name := fmt.Sprintf("static_%d_%d", f, j)
		if j == 0 {
			name = "init_once"
		}
		typ := elf.STT_FUNC
		if j%3 == 2 {
			typ = elf.STT_OBJECT
		}
		b.Locals = append(b.Locals, Local{Name: name, Type: typ})
	}
	return b
}
