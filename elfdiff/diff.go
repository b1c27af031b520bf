package elfdiff

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/relocs"
	"github.com/kpatchgo/kpatch-build/sections"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Options configure a diff.
type Options struct {
	// Parent is the object the patched code lives in: "vmlinux" or a
	// module name with dashes turned into underscores.
	Parent string
	// Table is the parent's symbol table; nil means no symbol is found
	// there (every reference stays a normal relocation).
	Table *symtab.Table
	// Symvers holds the kernel's exported symbols; nil means none.
	Symvers *symtab.Symvers
	// Getenv reads the special-section struct sizes (BUG_STRUCT_SIZE,
	// ...); nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// OutputName names the output object in messages.
	OutputName string
	// Logf receives the normal log (the reference's stdout lines); Debugf
	// the debug log. Either may be nil.
	Logf, Debugf func(format string, args ...any)
}

func (o *Options) getenv(k string) (string, bool) {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.LookupEnv(k)
}

// Result is the outcome of a successful diff.
type Result struct {
	// Output is the diff object; nil when err is ErrNoChange.
	Output *elfobj.File
	// Report explains the diff; it is filled for refusals too.
	Report *Report
}

type callback struct {
	sec string
	fn  *symbol
}

type differ struct {
	opts    Options
	objName string
	machine elf.Machine
	arch    *relocs.Arch
	orig    *object
	patched *object
	lookup  *symtab.Lookup
	report  *Report

	importNS     []string
	numChanged   int
	newGlobals   int
	hasCallbacks bool
	callbacks    []callback
	fixupShift   map[uint64]int64
	fixupSec     *section
	// ignoredStatics are the static local variables named by
	// KPATCH_IGNORE_STATIC, by name without gcc's number suffix.
	ignoredStatics map[string]bool
}

func (d *differ) logf(format string, args ...any) {
	if d.opts.Logf != nil {
		d.opts.Logf(format, args...)
	}
}

func (d *differ) debugf(format string, args ...any) {
	if d.opts.Debugf != nil {
		d.opts.Debugf(format, args...)
	}
}

func (d *differ) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.report.Warnings = append(d.report.Warnings, msg)
	d.logf("WARNING: %s", msg)
}

// ObjectName shortens a path the way the reference names objects in its
// messages: everything up to the first '/' is dropped.
func ObjectName(path string) string {
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// Diff compares an original and a patched build of one translation unit
// and returns an object holding what changed and everything it needs. The
// Report of the Result is filled even when an error is returned (use
// ExitCode(err) for the exit status).
func Diff(orig, patched *elfobj.File, opts Options) (res *Result, err error) {
	defer func() {
		// A malformed input that slipped past the reader must still end
		// in an error naming the object, never in a crash.
		if r := recover(); r != nil {
			if res == nil {
				res = &Result{Report: &Report{Object: ObjectName(orig.Name)}}
			}
			res.Output = nil
			err = refusal.In(ObjectName(orig.Name), "", refusal.Internal, r)
			res.Report.Exit = ExitError
			res.Report.Refusal = &Refusal{Key: refusal.Internal, Message: err.Error(), Hint: refusal.Lookup(refusal.Internal).Hint}
		}
	}()
	if opts.Parent == "" {
		opts.Parent = "vmlinux"
	}
	d := &differ{opts: opts, objName: ObjectName(orig.Name), machine: orig.Machine}
	d.report = &Report{Object: d.objName}
	res = &Result{Report: d.report}
	out, err := d.run(orig, patched)
	d.report.Exit = ExitCode(err)
	if err != nil {
		var e *refusal.Error
		if errors.As(err, &e) {
			d.report.Refusal = &Refusal{Key: e.Key, Element: e.Element, Message: e.Msg, Hint: e.Hint}
		} else if !errors.Is(err, ErrNoChange) {
			d.report.Refusal = &Refusal{Message: err.Error()}
		}
		return res, err
	}
	res.Output = out
	return res, nil
}

func (d *differ) run(orig, patched *elfobj.File) (*elfobj.File, error) {
	if orig.Machine != patched.Machine {
		return nil, d.refuse(refusal.Machine, "", orig.Name, patched.Name, orig.Machine, patched.Machine)
	}
	a, err := relocs.ForMachine(orig.Machine)
	if err == nil {
		err = a.CheckData(orig.Data)
	}
	if err != nil {
		return nil, d.refuse(refusal.MachineUnsupported, "", err)
	}
	d.arch = a
	if orig.PhNum > 0 || patched.PhNum > 0 {
		return nil, d.refuse(refusal.ProgramHeader, "")
	}
	if orig.Data != patched.Data || orig.OSABI != patched.OSABI || orig.ABIVersion != patched.ABIVersion ||
		orig.Type != patched.Type || orig.Version != patched.Version || orig.Entry != patched.Entry || orig.Flags != patched.Flags {
		return nil, d.refuse(refusal.ELFHeader, "")
	}
	d.orig = newObject(orig, d.objName)
	d.patched = newObject(patched, d.objName)
	for _, o := range []*object{d.orig, d.patched} {
		if err := d.prepare(o); err != nil {
			return nil, err
		}
	}
	if err := d.buildLookup(); err != nil {
		return nil, err
	}
	for _, s := range d.patched.secs {
		if s.Group != nil {
			s.grouped = true
		}
	}
	for _, o := range []*object{d.orig, d.patched} {
		if err := d.replaceSectionSymbols(o); err != nil {
			return nil, err
		}
	}
	if err := d.correlate(); err != nil {
		return nil, err
	}
	if err := d.markIgnoredSections(); err != nil {
		return nil, err
	}
	if err := d.compareSections(); err != nil {
		return nil, err
	}
	if err := d.compareSymbols(); err != nil {
		return nil, err
	}
	if err := d.markIgnoredFunctionsSame(); err != nil {
		return nil, err
	}
	d.markIgnoredSectionsSame()
	if err := d.checkProfiling(); err != nil {
		return nil, err
	}
	d.includeStandard()
	d.includeChanged()
	d.includeCallbacks()
	d.includeNewGlobals()
	d.includeDebug()
	if err := d.regenerateSpecial(); err != nil {
		return nil, err
	}
	if d.ppc64() {
		d.ppcIncludeAlternatives()
	}
	d.keepDebugRelocs()
	d.printChanges()
	if err := d.refuseRuntimeConsts(); err != nil {
		return nil, err
	}
	if err := d.verifyPatchability(); err != nil {
		return nil, err
	}
	if d.numChanged == 0 && d.newGlobals == 0 && !d.hasCallbacks {
		d.debugf("no changed functions were found")
		return nil, ErrNoChange
	}
	if d.ppc64() {
		if err := d.ppcNoSiblingCalls(); err != nil {
			return nil, err
		}
	}
	out, err := d.buildOutput()
	if err != nil {
		return nil, err
	}
	d.explain()
	return out, nil
}

// buildLookup matches the ORIG object's FILE blocks against the parent
// symbol table and tags every local with its block.
func (d *differ) buildLookup() error {
	var blocks []symtab.FileBlock
	cur := -1
	for _, s := range d.orig.syms {
		if s.Type == elf.STT_FILE {
			blocks = append(blocks, symtab.FileBlock{Name: s.Name})
			cur = len(blocks) - 1
			continue
		}
		if cur < 0 || !s.isLocal() {
			continue
		}
		s.file = cur
		if s.Type == elf.STT_FUNC || s.Type == elf.STT_OBJECT {
			blocks[cur].Locals = append(blocks[cur].Locals, symtab.Local{Name: s.Name, Type: s.Type})
		}
	}
	if d.opts.Table == nil {
		return nil
	}
	l, err := symtab.NewLookup(d.opts.Parent, d.opts.Table, d.opts.Symvers, blocks)
	if err != nil {
		return d.refuseLookup("", err)
	}
	d.lookup = l
	return nil
}

func specialNames() []string {
	var n []string
	for _, r := range sections.Rules {
		n = append(n, r.Name)
	}
	return n
}
