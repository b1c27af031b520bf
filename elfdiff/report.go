package elfdiff

import (
	"debug/elf"
	"encoding/json"
	"sort"

	"github.com/ianlancetaylor/demangle"

	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/relocs"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Report explains a diff: what changed, what is new, why each symbol is
// in the output, what the livepatch core must resolve, or why the patch
// was refused.
type Report struct {
	Object   string   `json:"object"`
	Exit     int      `json:"exit"`
	Changes  []Change `json:"changes,omitempty"`
	Changed  []string `json:"changed_functions,omitempty"`
	New      []string `json:"new_functions,omitempty"`
	Symbols  []Reason `json:"symbols,omitempty"`
	Funcs    []Func   `json:"patched_functions,omitempty"`
	KLP      []KLP    `json:"klp_relocations,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Refusal  *Refusal `json:"refusal,omitempty"`
}

// Change is one reported function change, in report order.
type Change struct {
	Kind     string `json:"kind"` // "changed" or "new"
	Function string `json:"function"`
	// Demangled is the Rust or C++ name of a mangled symbol.
	Demangled string `json:"demangled,omitempty"`
}

// Reason says why a symbol is in the output.
type Reason struct {
	Name string `json:"name"`
	// Demangled is the Rust or C++ name of a mangled symbol.
	Demangled string `json:"demangled,omitempty"`
	Type      string `json:"type"`
	Bind      string `json:"bind"`
	Defined   bool   `json:"defined"`
	Why       string `json:"why"`
}

// Func is one entry of .kpatch.funcs.
type Func struct {
	Name    string `json:"name"`
	Object  string `json:"object"`
	Sympos  uint64 `json:"sympos"`
	OldAddr uint64 `json:"old_addr"`
	OldSize uint64 `json:"old_size"`
	NewSize uint64 `json:"new_size"`
}

// KLP is one relocation the livepatch core resolves.
type KLP struct {
	Section  string `json:"section"`
	Offset   uint64 `json:"offset"`
	Type     string `json:"type"`
	Addend   int64  `json:"addend"`
	Symbol   string `json:"symbol"`
	Object   string `json:"object"`
	Sympos   uint64 `json:"sympos"`
	External bool   `json:"external,omitempty"`
}

// Refusal is why a patch was refused, with a hint for its author.
type Refusal struct {
	Key     refusal.Key `json:"key,omitempty"` // the entry of package refusal's table
	Element string      `json:"element,omitempty"`
	Message string      `json:"message"`
	Hint    string      `json:"hint,omitempty"`
}

// Demangle returns the Rust (legacy or v0) or C++ name a mangled symbol
// stands for, or "" when name is not mangled.
func Demangle(name string) string {
	if d := demangle.Filter(name, demangle.NoClones); d != name {
		return d
	}
	return ""
}

func (r *Report) addChange(kind, name string) {
	r.Changes = append(r.Changes, Change{Kind: kind, Function: name, Demangled: Demangle(name)})
	if kind == "new" {
		r.New = append(r.New, name)
	} else {
		r.Changed = append(r.Changed, name)
	}
}

func (r *Report) addFunc(name, obj string, res symtab.Result, newSize uint64) {
	r.Funcs = append(r.Funcs, Func{Name: name, Object: obj, Sympos: res.Sympos, OldAddr: res.Addr, OldSize: res.Size, NewSize: newSize})
}

func (r *Report) addKLP(arch *relocs.Arch, k *klpReloc) {
	name := k.base.Name
	r.KLP = append(r.KLP, KLP{Section: name, Offset: k.off, Type: arch.TypeName(k.typ), Addend: k.addend,
		Symbol: k.sym.Name, Object: k.res.ObjName, Sympos: k.res.Sympos, External: k.ext})
}

// JSON renders the report, indented, with a trailing newline.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// explain fills Symbols from the output's symbols.
func (d *differ) explain() {
	for _, s := range d.patched.syms {
		if !s.include || s.strip || s.Name == "" || s.Type == elf.STT_SECTION || s.Type == elf.STT_FILE {
			continue
		}
		why := s.why
		switch {
		case s.status == Changed && s.isFunc():
			why = "changed"
		case s.status == New && why == "":
			why = "new"
		}
		d.report.Symbols = append(d.report.Symbols, Reason{Name: s.Name, Demangled: Demangle(s.Name), Type: typeName(s.Type), Bind: bindName(s.Bind), Defined: s.sec != nil, Why: why})
	}
	sort.SliceStable(d.report.Symbols, func(i, j int) bool { return d.report.Symbols[i].Name < d.report.Symbols[j].Name })
}

func typeName(t elf.SymType) string {
	switch t {
	case elf.STT_FUNC:
		return "func"
	case elf.STT_OBJECT:
		return "object"
	case elf.STT_NOTYPE:
		return "notype"
	}
	return t.String()
}

func bindName(b elf.SymBind) string {
	switch b {
	case elf.STB_LOCAL:
		return "local"
	case elf.STB_GLOBAL:
		return "global"
	case elf.STB_WEAK:
		return "weak"
	}
	return b.String()
}
