package elfdiff

import (
	"debug/elf"
	"sort"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// FuncSymbols lists the function symbols of an object as nm shows them
// (t local, T global, W weak), sorted as text like `nm | sort`: "t NAME".
func FuncSymbols(f *elfobj.File) []string {
	var out []string
	for _, s := range f.Symbols {
		if s.Section == nil || s.Type == elf.STT_SECTION || s.Type == elf.STT_FILE || s.Section.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		c := "t"
		switch s.Bind {
		case elf.STB_GLOBAL:
			c = "T"
		case elf.STB_WEAK:
			c = "W"
		}
		out = append(out, c+" "+s.Name)
	}
	sort.Strings(out)
	return out
}
