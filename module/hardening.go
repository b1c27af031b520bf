package module

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/relocs"
)

// annotationSections hold the kernel's records about code (where a call,
// a return or a patchable site is), not pointers a program calls
// through: a relocation in them takes no function's address.
var annotationSections = []string{
	".return_sites", ".call_sites", ".retpoline_sites", ".ibt_endbr_seal",
	".orc_unwind_ip", ".orc_unwind", "__mcount_loc", "__patchable_function_entries",
	".static_call_sites", "__jump_table", ".altinstructions", ".parainstructions",
	"__bug_table", "__ex_table", ".smp_locks", kpatchfmt.RelocationsSection,
}

// reasonPatched is why a replacement function is listed among the
// indirect entries.
const reasonPatched = "patched function"

// Hardening is the static check of a module's code against the kernel's
// control-flow hardening (relocs.Hardening), which qemu's TCG does not
// enforce, so a guest run cannot see it broken.
type Hardening struct {
	// IBT is set when the module is built for a kernel with indirect
	// branch tracking (one of its functions starts with ENDBR64).
	IBT bool
	// Entries are the functions an indirect branch can enter, each with
	// why ("patched function", "callback", "module init", "address taken
	// in S") and whether it starts with the landing instruction.
	Entries []string
	// Rethunk is set when the module's returns go through the return
	// thunk (it references __x86_return_thunk or has .return_sites).
	Rethunk bool
	// Returns are the returns of each function: jumps to the return
	// thunk, those of them listed in .return_sites, bare returns.
	Returns []string
	// CallSites is the number of .call_sites entries (calls the loader
	// may redirect to call-depth accounting thunks), none of which may be
	// a call that a livepatch relocation resolves.
	CallSites int
	// Problems are the entries without ENDBR64, the return-thunk jumps
	// the loader would not patch and the bare returns of a return-thunk
	// module.
	Problems []string
}

// CheckHardening checks, for an architecture with control-flow hardening
// (x86-64), that every function an indirect branch can enter (callbacks,
// the module's init and exit, any function whose address is taken)
// starts with ENDBR64 when the module is built for IBT (replacement
// functions are listed too; the livepatch core enters them by a return,
// so they need it only when also entered some other way), and that every return is a jump to the return thunk that
// .return_sites lists (so the module loader patches it) when the module
// uses return thunks. It returns nil for other architectures.
func CheckHardening(f *elfobj.File) (*Hardening, error) {
	arch, err := relocs.ForMachine(f.Machine)
	if err != nil || arch.Hardening == nil {
		return nil, nil
	}
	hd := arch.Hardening
	h := &Hardening{}
	c := &hardeningChecker{f: f, arch: arch, insns: map[*elfobj.Section]*relocs.Insns{}, funcs: map[siteKey]*elfobj.Symbol{}}
	for _, s := range f.Symbols[1:] {
		if s.Type == elf.STT_FUNC && s.Section != nil && !isPrefixSymbol(arch, s.Name) {
			if _, dup := c.funcs[siteKey{s.Section, s.Value}]; !dup || s.Bind == elf.STB_GLOBAL {
				c.funcs[siteKey{s.Section, s.Value}] = s
			}
		}
	}
	// Built for IBT when any function starts with ENDBR64 (kbuild
	// compiles with -fcf-protection=branch there, and gcc gives every
	// function that can be called indirectly, init_module included, an
	// ENDBR64): one function broken does not hide the others.
	for _, fn := range c.funcs {
		if bytes.HasPrefix(c.bytesAt(fn.Section, fn.Value), hd.Landing) {
			h.IBT = true
			break
		}
	}

	// Why each function can be entered indirectly.
	why := map[*elfobj.Symbol][]string{}
	add := func(s *elfobj.Symbol, reason string) {
		if s != nil && !contains(why[s], reason) {
			why[s] = append(why[s], reason)
		}
	}
	for _, name := range []string{"init_module", "cleanup_module"} {
		add(f.SymbolByName(name), "module entry")
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elfobj.SHFRelaLivepatch != 0 || s.Base == nil || s.Base.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		base := s.Base
		if isAnnotation(base.Name) {
			continue
		}
		reason := "address taken in " + base.Name
		switch {
		case base.Name == kpatchfmt.FuncsSection:
			reason = reasonPatched
		case strings.HasPrefix(base.Name, kpatchfmt.CallbackPrefix):
			reason = "callback"
		}
		exec := base.Flags&elf.SHF_EXECINSTR != 0
		for _, r := range s.Relocs {
			if r.Sym == nil || r.Sym.Section == nil {
				continue
			}
			var in *relocs.Insns
			if exec {
				if in, err = c.decode(base); err != nil {
					return nil, err
				}
				start, ok := in.Start(r.Offset)
				if ok && hd.DirectBranch(c.insnAt(base, in, start)) {
					continue // a branch target, not an address taken
				}
			}
			off, err := arch.TargetOffset(in, r.Type, r.Offset, r.Addend)
			if err != nil {
				continue // a type that designates no place (GOT forms)
			}
			if fn := c.funcs[siteKey{r.Sym.Section, uint64(int64(r.Sym.Value) + off)}]; fn != nil {
				add(fn, reason)
			}
		}
	}
	var entries []*elfobj.Symbol
	for s := range why {
		entries = append(entries, s)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, s := range entries {
		ok := bytes.HasPrefix(c.bytesAt(s.Section, s.Value), hd.Landing)
		// The livepatch core enters a replacement function through the
		// ftrace trampoline's return (the handler rewrites the saved
		// RIP, then RET: arch/x86/kernel/ftrace_64.S), which IBT does
		// not check: a replacement needs ENDBR64 only when something
		// else can branch to it indirectly. gcc gives none to a static
		// function whose address its unit never takes.
		required := slices.ContainsFunc(why[s], func(r string) bool { return r != reasonPatched })
		state := "ENDBR64"
		switch {
		case !ok && !required:
			state = "no ENDBR64, not needed: entered by ftrace's return"
		case !ok:
			state = "NO ENDBR64"
			if h.IBT {
				h.Problems = append(h.Problems, fmt.Sprintf("%s can be entered indirectly (%s) but does not start with ENDBR64: an IBT kernel would stop with a control-protection fault (Missing ENDBR)", s.Name, strings.Join(why[s], ", ")))
			}
		}
		h.Entries = append(h.Entries, fmt.Sprintf("%s: %s (%s)", s.Name, state, strings.Join(why[s], ", ")))
	}

	// Returns: each jump to the return thunk must be a .return_sites
	// entry; with return thunks, no bare return.
	sites, err := c.returnSites()
	if err != nil {
		return nil, err
	}
	h.Rethunk = f.SectionByName(".return_sites") != nil || f.SymbolByName(hd.ReturnThunk) != nil
	thunkJumps := map[siteKey]bool{}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Base == nil || s.Base.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		for _, r := range s.Relocs {
			if r.Sym == nil || r.Sym.Name != hd.ReturnThunk {
				continue
			}
			in, err := c.decode(s.Base)
			if err != nil {
				return nil, err
			}
			if start, ok := in.Start(r.Offset); ok && hd.DirectBranch(c.insnAt(s.Base, in, start)) {
				thunkJumps[siteKey{s.Base, start}] = true
			}
		}
	}
	var fns []*elfobj.Symbol
	for _, s := range c.funcs {
		if s.Size > 0 {
			fns = append(fns, s)
		}
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	for _, fn := range fns {
		in, err := c.decode(fn.Section)
		if err != nil {
			return nil, err
		}
		jumps, listed, bare := 0, 0, 0
		for i := 0; i < in.Len(); i++ {
			start, end := in.At(i)
			if uint64(start) < fn.Value || uint64(start) >= fn.Value+fn.Size {
				continue
			}
			at := siteKey{fn.Section, uint64(start)}
			switch {
			case thunkJumps[at]:
				jumps++
				if sites[at] {
					listed++
				} else {
					h.Problems = append(h.Problems, fmt.Sprintf("%s+%#x: a jump to %s that .return_sites does not list: the loader leaves it on the thunk (Unpatched return thunk)", fn.Name, uint64(start)-fn.Value, hd.ReturnThunk))
				}
			case hd.Return(fn.Section.Data[start:end]):
				bare++
				if h.Rethunk {
					h.Problems = append(h.Problems, fmt.Sprintf("%s+%#x: a bare return in a module whose returns go through %s", fn.Name, uint64(start)-fn.Value, hd.ReturnThunk))
				}
			}
		}
		if jumps+bare > 0 {
			h.Returns = append(h.Returns, fmt.Sprintf("%s: %d return-thunk jump(s), %d in .return_sites, %d bare return(s)", fn.Name, jumps, listed, bare))
		}
	}
	// Call sites: the loader redirects each call of .call_sites to its
	// callee's call thunk when the module loads, so none may be a call
	// the livepatch core resolves later.
	klp := map[siteKey]bool{}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA && s.Flags&elfobj.SHFRelaLivepatch != 0 && s.Base != nil {
			for _, r := range s.Relocs {
				klp[siteKey{s.Base, r.Offset}] = true
			}
		}
	}
	if cs := f.SectionByName(".call_sites"); cs != nil && cs.Rela != nil {
		for _, r := range cs.Rela.Relocs {
			if r.Sym == nil || r.Sym.Section == nil {
				continue
			}
			call := uint64(int64(r.Sym.Value) + r.Addend)
			if klp[siteKey{r.Sym.Section, call + 1}] {
				h.Problems = append(h.Problems, fmt.Sprintf("%s+%#x: .call_sites lists a call the livepatch core resolves after the loader patched the call sites", r.Sym.Section.Name, call))
			}
		}
		h.CallSites = len(cs.Rela.Relocs)
	}
	return h, nil
}

// siteKey is a place in a section.
type siteKey struct {
	sec *elfobj.Section
	off uint64
}

type hardeningChecker struct {
	f     *elfobj.File
	arch  *relocs.Arch
	insns map[*elfobj.Section]*relocs.Insns
	funcs map[siteKey]*elfobj.Symbol
}

func (c *hardeningChecker) decode(s *elfobj.Section) (*relocs.Insns, error) {
	if in, ok := c.insns[s]; ok {
		return in, nil
	}
	in, err := c.arch.DecodeText(s.Data)
	if err != nil {
		return nil, fmt.Errorf("section %s: %w", s.Name, err)
	}
	c.insns[s] = in
	return in, nil
}

func (c *hardeningChecker) bytesAt(s *elfobj.Section, off uint64) []byte {
	if off > uint64(len(s.Data)) {
		return nil
	}
	return s.Data[off:]
}

func (c *hardeningChecker) insnAt(s *elfobj.Section, in *relocs.Insns, start uint64) []byte {
	end, ok := in.End(start)
	if !ok || end > uint64(len(s.Data)) {
		return nil
	}
	return s.Data[start:end]
}

// returnSites reads .return_sites: 32-bit PC-relative pointers, each to a
// return instruction (or return-thunk jump).
func (c *hardeningChecker) returnSites() (map[siteKey]bool, error) {
	sites := map[siteKey]bool{}
	rs := c.f.SectionByName(".return_sites")
	if rs == nil || rs.Rela == nil {
		return sites, nil
	}
	for _, r := range rs.Rela.Relocs {
		if r.Sym == nil || r.Sym.Section == nil {
			return nil, fmt.Errorf(".return_sites+%#x: relocation to %s, which the module does not define", r.Offset, symName(r.Sym))
		}
		if r.Offset+4 > uint64(len(rs.Data)) {
			return nil, fmt.Errorf(".return_sites+%#x: relocation outside the section", r.Offset)
		}
		// The field holds S+A-P once applied; before, its bytes are 0
		// and the place designated is S+A.
		extra := int64(int32(binary.LittleEndian.Uint32(rs.Data[r.Offset:])))
		sites[siteKey{r.Sym.Section, uint64(int64(r.Sym.Value) + r.Addend + extra)}] = true
	}
	return sites, nil
}

func symName(s *elfobj.Symbol) string {
	if s == nil {
		return "no symbol"
	}
	return s.Name
}

func isAnnotation(name string) bool {
	return contains(annotationSections, name) || strings.HasPrefix(name, ".discard") || strings.HasPrefix(name, ".debug")
}

func isPrefixSymbol(a *relocs.Arch, name string) bool {
	for _, p := range a.PrefixSymbols {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String renders the check for inspect.
func (h *Hardening) String() string {
	var b strings.Builder
	list := func(title string, lines []string) {
		fmt.Fprintf(&b, "%s:\n", title)
		if len(lines) == 0 {
			b.WriteString("  (none)\n")
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	ibt := "no (no function starts with ENDBR64): listed, not required"
	if h.IBT {
		ibt = "yes: each must start with ENDBR64, but for one only ftrace enters"
	}
	list("indirect entries (IBT "+ibt+")", h.Entries)
	rethunk := "no (no return thunk referenced): bare returns allowed"
	if h.Rethunk {
		rethunk = "yes: each return must be a return-thunk jump listed in .return_sites"
	}
	list("returns (return thunks "+rethunk+")", h.Returns)
	fmt.Fprintf(&b, "call sites: %d (none may be a call a livepatch relocation resolves)\n", h.CallSites)
	return b.String()
}
