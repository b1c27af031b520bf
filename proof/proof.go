// Package proof proves that the original objects of a patch build are the
// running kernel's own code: each function of each original object is
// compared with the same function in the running kernel (the debug
// vmlinux, or the debug module of the object's parent), size and bytes.
//
// The comparison masks only what legitimately differs between an object
// and its linked kernel: the fields of relocations (filled by the linker
// or the module loader), and the instructions the build rewrites after
// compiling (ftrace's entry call, static call sites, jump labels and
// alternatives' sites, which objtool may turn into NOPs when it runs on
// the linked vmlinux.o). Everything else must be equal: an honest match
// is exact, and a source tree, configuration or compiler that is not the
// running kernel's shows as a difference, found before the diff.
package proof

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/relocs"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Object is one original object to prove.
type Object struct {
	// Name is the object as the user reads it (fs/proc/meminfo.o, or
	// xfs:fs/xfs/xfs_qm.o for a module's).
	Name string
	// Path is the original object built from the user's tree.
	Path string
	// Parent is "vmlinux" or the module's name; Kernel is the parent's
	// ELF file with symbols (the debug vmlinux or debug module) and Table
	// its symbol table.
	Parent string
	Kernel string
	Table  *symtab.Table
}

// Masked kinds: where a byte difference is expected and not a mismatch.
const (
	MaskReloc      = "relocation"
	MaskFentry     = "ftrace entry"
	MaskStaticCall = "static call"
	MaskJumpLabel  = "jump label"
	MaskAlt        = "alternative"
	MaskShortJump  = "short jump"
)

// Result is the proof of one object.
type Result struct {
	// Object is Object.Name.
	Object string `json:"object"`
	// Proven counts the functions found equal.
	Proven int `json:"proven"`
	// Unmatched counts the functions the kernel has under no unique name
	// (inlined everywhere, discarded, or a duplicate local): not compared.
	Unmatched int `json:"unmatched,omitempty"`
	// Masked counts the masked places whose bytes did differ, by kind.
	Masked map[string]int `json:"masked,omitempty"`
}

// Mismatch is a function of an original object that is not the running
// kernel's.
type Mismatch struct {
	Object   string // Object.Name
	Function string
	Parent   string
	// Offset is the offset of the first difference in the function;
	// ObjSize and KernelSize the two sizes (different: Offset is 0).
	Offset              uint64
	ObjSize, KernelSize uint64
	// Differing and Compared count the object's functions that differ and
	// were compared: many differences point at the configuration or the
	// compiler, few at the source tree.
	Differing, Compared int
}

// Cause is the likely cause of the mismatch, for messages.
func (m *Mismatch) Cause() string {
	if m.Compared >= 4 && m.Differing*2 > m.Compared {
		return "most of its functions differ: the configuration or the compiler is not the running kernel's"
	}
	return "the source tree is not the running kernel's"
}

// Difference says where the function differs, e.g. "in vmlinux: first
// difference at offset 0x1c of 0x35 bytes".
func (m *Mismatch) Difference() string {
	if m.ObjSize != m.KernelSize {
		return fmt.Sprintf("in %s: first difference at offset %#x; %d bytes here, %d in the kernel", m.Parent, m.Offset, m.ObjSize, m.KernelSize)
	}
	return fmt.Sprintf("in %s: first difference at offset %#x of %d bytes", m.Parent, m.Offset, m.ObjSize)
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("%s: function %s is not the running kernel's (%s): %s", m.Object, m.Function, m.Difference(), m.Cause())
}

// Prove compares every object with its parent and returns one Result per
// object. The first function that differs is returned as a *Mismatch
// (with the results so far); other errors name the file.
func Prove(objs []Object) ([]Result, error) {
	kernels := map[string]*kernelFile{}
	defer func() {
		for _, k := range kernels {
			k.f.Close()
		}
	}()
	var out []Result
	for _, o := range objs {
		k := kernels[o.Kernel]
		if k == nil {
			var err error
			if k, err = openKernel(o.Kernel); err != nil {
				return out, err
			}
			kernels[o.Kernel] = k
		}
		r, err := proveObject(o, k)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// kernelFile is a parent's ELF file: a linked vmlinux (symbols are
// addresses) or a relocatable module (symbols are section offsets).
type kernelFile struct {
	path string
	f    *os.File
	elf  *elf.File
}

func openKernel(path string) (*kernelFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("running kernel: %w", err)
	}
	e, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("running kernel %s: %w", path, err)
	}
	return &kernelFile{path: path, f: f, elf: e}, nil
}

// bytesOf reads a function's bytes from the kernel file.
func (k *kernelFile) bytesOf(e *symtab.Entry) ([]byte, error) {
	var sec *elf.Section
	off := e.Value
	if k.elf.Type == elf.ET_REL {
		if int(e.Shndx) <= 0 || int(e.Shndx) >= len(k.elf.Sections) {
			return nil, fmt.Errorf("%s: symbol %s: section index %d out of range", k.path, e.Name, e.Shndx)
		}
		sec = k.elf.Sections[e.Shndx]
	} else {
		for _, s := range k.elf.Sections {
			if s.Flags&elf.SHF_ALLOC != 0 && s.Type == elf.SHT_PROGBITS && e.Value >= s.Addr && e.Value+e.Size <= s.Addr+s.Size {
				sec = s
				off = e.Value - s.Addr
				break
			}
		}
		if sec == nil {
			return nil, fmt.Errorf("%s: symbol %s at %#x: in no section with contents", k.path, e.Name, e.Value)
		}
	}
	if sec.Type != elf.SHT_PROGBITS || off+e.Size > sec.Size {
		return nil, fmt.Errorf("%s: symbol %s: outside its section %s", k.path, e.Name, sec.Name)
	}
	b := make([]byte, e.Size)
	if _, err := sec.ReadAt(b, int64(off)); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: symbol %s: %w (truncated file?)", k.path, e.Name, err)
	}
	return b, nil
}

// proveObject compares the functions of one object.
func proveObject(o Object, k *kernelFile) (Result, error) {
	res := Result{Object: o.Name, Masked: map[string]int{}}
	f, err := elfobj.Open(o.Path)
	if err != nil {
		return res, err
	}
	arch, err := relocs.ForMachine(f.Machine)
	if err != nil {
		return res, fmt.Errorf("%s: %w", o.Name, err)
	}
	lookup, block, err := lookupFor(f, o)
	if err != nil {
		return res, err
	}
	masks := maskSites(f, arch)
	type pending struct {
		sym  *elfobj.Symbol
		kern *symtab.Entry
	}
	var funcs []pending
	for _, s := range f.Symbols {
		if s.Type != elf.STT_FUNC || s.Section == nil || s.Size == 0 || s.Section.Type != elf.SHT_PROGBITS {
			continue
		}
		e := kernelEntry(lookup, o.Table, s, block[s])
		if e == nil || (s.Bind == elf.STB_WEAK && e.Bind != elf.STB_WEAK) {
			// Not in the kernel under a unique name, or a weak default
			// another object overrides (arch_report_meminfo).
			res.Unmatched++
			continue
		}
		funcs = append(funcs, pending{s, e})
	}
	var first *Mismatch
	for _, p := range funcs {
		s := p.sym
		kb, err := k.bytesOf(p.kern)
		if err != nil {
			return res, err
		}
		if s.Value+s.Size > uint64(len(s.Section.Data)) {
			return res, fmt.Errorf("%s: function %s outside its section %s", o.Name, s.Name, s.Section.Name)
		}
		ob := s.Section.Data[s.Value : s.Value+s.Size]
		diff, masked := -1, map[string]int(nil)
		if len(ob) == len(kb) {
			diff, masked = compare(ob, kb, masks[s.Section], s.Value)
		}
		if (len(ob) != len(kb) || diff >= 0) && arch.Decode != nil {
			// The object's own build uses a section per function, so a
			// jump to a neighbouring function keeps a 32-bit field (a
			// relocation) where the kernel's assembler chose 8 bits: walk
			// both instruction by instruction.
			diff, masked = compareInsns(ob, kb, masks[s.Section], s.Value, arch)
		}
		if diff >= 0 {
			if first == nil {
				first = &Mismatch{Object: o.Name, Function: s.Name, Parent: o.Parent, Offset: uint64(diff), ObjSize: s.Size, KernelSize: p.kern.Size}
			}
			first.Differing++
			continue
		}
		for kind, n := range masked {
			res.Masked[kind] += n
		}
		res.Proven++
	}
	if first != nil {
		first.Compared = len(funcs)
		return res, first
	}
	return res, nil
}

// lookupFor matches the object's FILE blocks with the parent's symbol
// table, as the diff does, and tags each local symbol with its block.
func lookupFor(f *elfobj.File, o Object) (*symtab.Lookup, map[*elfobj.Symbol]int, error) {
	var blocks []symtab.FileBlock
	block := map[*elfobj.Symbol]int{}
	cur := -1
	for _, s := range f.Symbols {
		if s.Type == elf.STT_FILE {
			blocks = append(blocks, symtab.FileBlock{Name: s.Name})
			cur = len(blocks) - 1
			continue
		}
		block[s] = -1
		if cur < 0 || s.Bind != elf.STB_LOCAL {
			continue
		}
		block[s] = cur
		if s.Type == elf.STT_FUNC || s.Type == elf.STT_OBJECT {
			blocks[cur].Locals = append(blocks[cur].Locals, symtab.Local{Name: s.Name, Type: s.Type})
		}
	}
	l, err := symtab.NewLookup(o.Parent, o.Table, nil, blocks)
	if err != nil {
		// No unique FILE block: the globals can still be proven.
		l, _ = symtab.NewLookup(o.Parent, o.Table, nil, nil)
		for s := range block {
			block[s] = -1
		}
	}
	return l, block, nil
}

// kernelEntry finds the kernel's symbol for an object's function: a local
// in the matched FILE block, or the unique global of the name.
func kernelEntry(l *symtab.Lookup, t *symtab.Table, s *elfobj.Symbol, block int) *symtab.Entry {
	var r symtab.Result
	var ok bool
	var err error
	if s.Bind == elf.STB_LOCAL {
		if block < 0 {
			return nil
		}
		r, ok, err = l.LookupLocal(block, s.Name)
	} else {
		r, ok, err = l.LookupGlobal(s.Name)
	}
	if !ok || err != nil {
		return nil
	}
	for _, i := range t.Named(s.Name) {
		e := &t.Entries[i]
		if e.Value == r.Addr && e.Type == elf.STT_FUNC {
			return e
		}
	}
	return nil
}

// site is a masked byte range of a section, with its kind.
type site struct {
	start, end uint64
	kind       string
}

// maskSites lists, per section of the object, the ranges a comparison
// masks: every relocation's field; the whole instruction of a call to
// ftrace's entry (__fentry__) or of a static call site; the sites of
// jump labels and alternatives (up to the 5 bytes of a jump).
func maskSites(f *elfobj.File, arch *relocs.Arch) map[*elfobj.Section][]site {
	m := map[*elfobj.Section][]site{}
	add := func(s *elfobj.Section, start, end uint64, kind string) {
		if s == nil {
			return
		}
		m[s] = append(m[s], site{start, end, kind})
	}
	for _, rs := range f.Sections {
		if !rs.IsRela() && rs.Type != elf.SHT_REL || rs.Base == nil {
			continue
		}
		base := rs.Base
		special := ""
		switch {
		case base.Name == "__jump_table":
			special = MaskJumpLabel
		case base.Name == ".static_call_sites":
			special = MaskStaticCall
		case base.Name == ".altinstructions":
			special = MaskAlt
		}
		for _, r := range rs.Relocs {
			if special != "" {
				// A record's relocations point at the code sites.
				if r.Sym != nil && r.Sym.Section != nil && r.Sym.Section.Flags&elf.SHF_EXECINSTR != 0 {
					at := uint64(int64(r.Sym.Value) + r.Addend)
					if r.Sym.Type == elf.STT_SECTION || r.Sym.Type == elf.STT_FUNC || r.Sym.Type == elf.STT_NOTYPE {
						add(r.Sym.Section, at, at+5, special)
					}
				}
				continue
			}
			size := uint64(4)
			if t, ok := arch.Types[r.Type]; ok && t.Size > 0 {
				size = uint64(t.Size)
			}
			add(base, r.Offset, r.Offset+size, MaskReloc)
			if r.Sym != nil && arch.Machine == elf.EM_X86_64 && r.Offset >= 1 {
				switch {
				case r.Sym.Name == "__fentry__":
					add(base, r.Offset-1, r.Offset+4, MaskFentry)
				case strings.HasPrefix(r.Sym.Name, "__SCT__"):
					add(base, r.Offset-1, r.Offset+4, MaskStaticCall)
				}
			}
		}
	}
	for s := range m {
		sort.Slice(m[s], func(i, j int) bool { return m[s][i].start < m[s][j].start })
	}
	return m
}

// compare compares a function's bytes (ob at section offset base) with
// the kernel's (kb, same length): it returns the offset of the first
// difference outside the masks (-1: none) and the masked places that did
// differ, by kind.
func compare(ob, kb []byte, sites []site, base uint64) (int, map[string]int) {
	masked := map[string]int{}
	covered := make([]string, len(ob))
	for _, s := range sites {
		if s.end <= base || s.start >= base+uint64(len(ob)) {
			continue
		}
		for i := max(s.start, base); i < min(s.end, base+uint64(len(ob))); i++ {
			// The most specific kind wins over a relocation's field.
			if covered[i-base] == "" || covered[i-base] == MaskReloc {
				covered[i-base] = s.kind
			}
		}
	}
	counted := map[string]bool{}
	for i := range ob {
		if ob[i] == kb[i] {
			continue
		}
		kind := covered[i]
		if kind == "" {
			return i, masked
		}
		// One count per masked place: a run of differing bytes of one kind.
		key := fmt.Sprintf("%s@%d", kind, runStart(covered, i))
		if !counted[key] {
			counted[key] = true
			masked[kind]++
		}
	}
	return -1, masked
}

// compareInsns compares a function's instructions with the kernel's one
// by one: equal lengths compare as compare does; a 5-byte jmp or 6-byte
// jcc whose field is a relocation in the object may be a 2-byte jump of
// the same kind in the kernel (MaskShortJump). It returns the object
// offset of the first difference (-1: none) and the masked places that
// differed.
func compareInsns(ob, kb []byte, sites []site, base uint64, arch *relocs.Arch) (int, map[string]int) {
	masked := map[string]int{}
	oi, err := arch.Decode(ob)
	if err != nil {
		return 0, masked
	}
	ki, err := arch.Decode(kb)
	if err != nil {
		return 0, masked
	}
	j := 0
	for i := 0; i < oi.Len(); i++ {
		start, end := oi.At(i)
		if j >= ki.Len() {
			return int(start), masked
		}
		ks, ke := ki.At(j)
		j++
		o, k := ob[start:end], kb[ks:ke]
		if len(o) == len(k) {
			d, m := compare(o, k, sites, base+uint64(start))
			if d >= 0 {
				return int(start) + d, masked
			}
			for kind, n := range m {
				masked[kind] += n
			}
			continue
		}
		if shortForm(o, k) && relocAt(sites, base+uint64(end)-4) {
			masked[MaskShortJump]++
			continue
		}
		return int(start), masked
	}
	if j != ki.Len() {
		return len(ob), masked
	}
	return -1, masked
}

// shortForm reports whether k is the 2-byte form of the x86 jump o: jmp
// rel32 (e9) and jmp rel8 (eb), jcc rel32 (0f 8x) and jcc rel8 (7x).
func shortForm(o, k []byte) bool {
	if len(k) != 2 {
		return false
	}
	switch {
	case len(o) == 5 && o[0] == 0xe9:
		return k[0] == 0xeb
	case len(o) == 6 && o[0] == 0x0f && o[1]&0xf0 == 0x80:
		return k[0] == 0x70|o[1]&0x0f
	}
	return false
}

// relocAt reports whether a relocation's field starts at off.
func relocAt(sites []site, off uint64) bool {
	for _, s := range sites {
		if s.kind == MaskReloc && s.start == off {
			return true
		}
	}
	return false
}

// runStart is the first index of the run of equal kinds that holds i.
func runStart(covered []string, i int) int {
	for i > 0 && covered[i-1] == covered[i] {
		i--
	}
	return i
}
