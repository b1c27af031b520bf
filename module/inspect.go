package module

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// Listing describes a patch module: what it patches and how.
type Listing struct {
	Modinfo   []string // .modinfo strings
	Funcs     []string // kfunc lines (see kpatchfmt.Describe)
	Callbacks []string // callback lines
	KLP       []string // "SECTION+OFF TYPE SYMBOL ADDEND" per livepatch relocation
	Undefined []string // symbols the module loader must resolve (exports)
	Problems  []string // what makes the module malformed
	// Hardening is the check of the code against the kernel's
	// control-flow hardening (nil when the architecture has none).
	Hardening *Hardening
}

// MaxNameLen is the longest module name the kernel accepts: struct
// module's name field is MODULE_NAME_LEN (64 - sizeof(unsigned long) = 56
// on 64-bit) bytes with the terminating NUL, and modpost refuses longer
// names.
const MaxNameLen = 55

// CheckName checks that name can name a module: 1 to MaxNameLen
// characters from [A-Za-z0-9_-] ('-' becomes '_' in the module's own
// name). Anything else could not be loaded, or, as a file name, could
// point outside the output directory.
func CheckName(name string) error {
	if name == "" {
		return errors.New("a module name cannot be empty")
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("character %q is not allowed in a module name (only A-Z, a-z, 0-9, '_' and '-')", []rune(name[i:])[0])
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("a module name has at most %d characters, this one %d", MaxNameLen, len(name))
	}
	return nil
}

var klpSymRE = regexp.MustCompile(`^\.klp\.sym\.([^.]+)\.(.+),(\d+)$`)

// Inspect lists a patch module and checks it is well formed.
func Inspect(f *elfobj.File) *Listing {
	l := &Listing{}
	if mi := f.SectionByName(".modinfo"); mi != nil {
		for _, s := range bytes.Split(mi.Data, []byte{0}) {
			if len(s) > 0 {
				l.Modinfo = append(l.Modinfo, string(s))
			}
		}
	}
	named := false
	for _, kv := range l.Modinfo {
		if name, ok := strings.CutPrefix(kv, "name="); ok {
			named = true
			if err := CheckName(name); err != nil {
				l.Problems = append(l.Problems, fmt.Sprintf(".modinfo name %q: %v", name, err))
			}
		}
	}
	if !named {
		l.Problems = append(l.Problems, "no name= in .modinfo: the module has no name")
	}
	for _, line := range kpatchfmt.Describe(f) {
		switch {
		case strings.HasPrefix(line, "kfunc "):
			l.Funcs = append(l.Funcs, strings.TrimPrefix(line, "kfunc "))
		case strings.HasPrefix(line, "callback "):
			l.Callbacks = append(l.Callbacks, strings.TrimPrefix(line, "callback "))
		}
	}
	for _, s := range f.Sections {
		if s.Flags&elfobj.SHFRelaLivepatch == 0 {
			if strings.HasPrefix(s.Name, ".klp.rela.") {
				l.Problems = append(l.Problems, fmt.Sprintf("section %s lacks SHF_RELA_LIVEPATCH", s.Name))
			}
			continue
		}
		if s.Type != elf.SHT_RELA || s.Base == nil {
			l.Problems = append(l.Problems, fmt.Sprintf("section %s is not a relocation section with a target", s.Name))
			continue
		}
		if !strings.HasPrefix(s.Name, ".klp.rela.") || !strings.HasSuffix(s.Name, "."+strings.TrimPrefix(s.Base.Name, ".")) {
			l.Problems = append(l.Problems, fmt.Sprintf("section %s does not name its target %s", s.Name, s.Base.Name))
		}
		for _, r := range s.Relocs {
			l.KLP = append(l.KLP, fmt.Sprintf("%s+%#x %v %s %+d", s.Base.Name, r.Offset, relocName(f.Machine, r.Type), r.Sym.Name, r.Addend))
			if r.Sym.Shndx != elfobj.SHNLivepatch || r.Sym.Section != nil {
				l.Problems = append(l.Problems, fmt.Sprintf("symbol %s is not SHN_LIVEPATCH", r.Sym.Name))
			}
			if !klpSymRE.MatchString(r.Sym.Name) {
				l.Problems = append(l.Problems, fmt.Sprintf("symbol %s is not named .klp.sym.OBJ.NAME,POS", r.Sym.Name))
			}
		}
	}
	seen := map[string]bool{}
	for _, s := range f.Symbols[1:] {
		if s.Section == nil && s.Shndx == elf.SHN_UNDEF && s.Name != "" && !seen[s.Name] {
			seen[s.Name] = true
			l.Undefined = append(l.Undefined, s.Name)
		}
	}
	sort.Strings(l.Undefined)
	if fs := f.SectionByName(kpatchfmt.FuncsSection); fs == nil {
		l.Problems = append(l.Problems, "no "+kpatchfmt.FuncsSection+" section: not a kpatch-build patch module")
	} else if n := kpatchfmt.For(f).FuncSize(); len(fs.Data)%n != 0 {
		l.Problems = append(l.Problems, fmt.Sprintf("%s size %d is not a multiple of %d", kpatchfmt.FuncsSection, len(fs.Data), n))
	}
	if f.SymbolByName("init_module") == nil {
		l.Problems = append(l.Problems, "no init_module")
	}
	h, err := CheckHardening(f)
	if err != nil {
		l.Problems = append(l.Problems, fmt.Sprintf("control-flow check: %v", err))
	} else if h != nil {
		l.Hardening = h
		l.Problems = append(l.Problems, h.Problems...)
	}
	return l
}

// relocName names relocation type t of machine m from the architecture
// table, or gives the number when the machine has none.
func relocName(m elf.Machine, t uint32) string {
	if a, err := relocs.ForMachine(m); err == nil {
		return a.TypeName(t)
	}
	return fmt.Sprint(t)
}

// String renders the listing as text.
func (l *Listing) String() string {
	var b strings.Builder
	section := func(title string, lines []string) {
		fmt.Fprintf(&b, "%s:\n", title)
		if len(lines) == 0 {
			b.WriteString("  (none)\n")
		}
		for _, s := range lines {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	section("modinfo", l.Modinfo)
	section("patched functions", l.Funcs)
	section("callbacks", l.Callbacks)
	section("livepatch relocations", l.KLP)
	section("undefined symbols (resolved against exports)", l.Undefined)
	// Kernels without IBT and return thunks (the bundled one) have
	// nothing to show.
	if h := l.Hardening; h != nil && (h.IBT || h.Rethunk) {
		b.WriteString(h.String())
	}
	if len(l.Problems) == 0 {
		b.WriteString("well formed: yes\n")
	} else {
		section("problems", l.Problems)
	}
	return b.String()
}
