// Package kernel is the idea of the kernel being patched: what the
// pipeline asks of it, with exactly two implementations, the bundled
// kernel (package kernel/bundled: the C kernel of emulator/kernel, built
// whole and verified in the emulated target) and a distribution kernel
// (package kernel/distro: a Linux tree matching an installed kernel
// package, of which only the objects a patch can affect are built, proved
// against the running kernel and verified under qemu).
//
// A Kernel answers, in the pipeline's order: its facts (release,
// compiler, special-struct sizes, Module.symvers, configuration, the
// tree its builds run in), the objects a patch changes built original
// and patched with the parent of each (vmlinux or a module) and the
// binary holding that parent's symbols, the checks its objects need
// before they are diffed, the module's link from the diff outputs, and
// its verifier. Package pipeline chooses the implementation from the
// source tree (pipeline.IsLinuxTree), in one place.
package kernel

import (
	"context"
	"errors"
	"io"

	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/proof"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Kernel is the kernel being patched. Facts is called first; the other
// methods use what it found.
type Kernel interface {
	// Facts finds the kernel's facts, building or preparing what that
	// needs (cached), and checks the compiler unless told not to.
	Facts(ctx context.Context) (*Facts, error)
	// Build builds the objects the patches can change, original and
	// patched, in a new work directory of the cache. A non-nil Built
	// names that directory even with an error.
	Build(ctx context.Context, patches []*patch.Patch) (*Built, error)
	// Check runs the kernel's checks of the built objects before they
	// are diffed (tables: the parents' symbol tables by Object.Symtab),
	// returning what they proved for the report.
	Check(objs []Object, tables map[string]*symtab.Table) ([]proof.Result, error)
	// BuildModule links the patch module from the diff outputs.
	BuildModule(ctx context.Context, m Module) error
	// Verifier is the verifier of the kernel's modules: the grammar of
	// PATCH.expect it reads (package expect).
	Verifier() expect.Verifier
	// Verify proves a built module with the patches' checks (read for
	// Verifier), writing what it proved to v.Stdout.
	Verify(ctx context.Context, v Verification) error
}

// Facts are what the pipeline knows of the kernel being patched.
type Facts struct {
	// Release is the kernel's release (uname -r).
	Release string
	// CC is the compiler the objects are built with.
	CC string
	// StructSizes are the special-section struct sizes by their
	// environment name (BUG_STRUCT_SIZE, ...); a struct the kernel does
	// not define is absent.
	StructSizes map[string]string
	// Symvers is the kernel's Module.symvers.
	Symvers string
	// Config is the configuration the objects are built with ("" for a
	// kernel without one).
	Config string
	// Vmlinux is the kernel with symbols: vmlinux's symbol table.
	Vmlinux string
	// Tree is where the kernel's builds run: the running kernel's build
	// (bundled) or the prepared tree (distribution).
	Tree string
}

// Object is one object a patch changes: the pair of builds the diff
// compares and its parent.
type Object struct {
	// Name names the object in logs and the report: its tree-relative
	// path, MODULE:PATH for a distribution module's object.
	Name string
	// Parent is "vmlinux" or the module's name.
	Parent string
	// Symtab is the parent's binary with symbols.
	Symtab string
	// Orig and Patched are the two builds of the object.
	Orig, Patched string
}

// Built are the objects a patch changes, built.
type Built struct {
	// Objects are the objects to diff.
	Objects []Object
	// New are objects of new files, linked into the module as they are
	// (the bundled kernel); NewNames their tree-relative names.
	New, NewNames []string
	// Fuzzed are the hunks the patches applied with fuzz.
	Fuzzed []patch.FuzzedHunk
	// Chosen says why each object was compiled (a distribution kernel;
	// an object chosen for several entities is listed once for each).
	Chosen []Chosen
	// WorkDir is the run's work directory in the cache, removed after
	// the run unless kept.
	WorkDir string
}

// Chosen is why an object was compiled: the patched file, its changed
// entity and the reason.
type Chosen struct {
	Object string `json:"object"`
	Parent string `json:"parent"`
	File   string `json:"file"`
	Entity string `json:"entity,omitempty"`
	Why    string `json:"why"`
}

// Module is what the module is linked from.
type Module struct {
	// Name is the module's name; Output the .ko to write.
	Name, Output string
	// Objects are the diff outputs; New the objects of new files.
	Objects, New []string
	// NonReplace builds a module that does not replace older patches.
	NonReplace bool
	// WorkDir is a directory of the run for the link.
	WorkDir string
}

// Verification is what Verify proves and where it says so.
type Verification struct {
	// Module is the built module.
	Module string
	// Checks are the patches' checks, read for the kernel's Verifier.
	Checks *expect.Set
	// Parents are the distribution modules the patch changes (loaded
	// with it).
	Parents []string
	// KVM boots qemu with KVM instead of TCG (a distribution kernel).
	KVM bool
	// Stdout takes what was verified, Stderr the emulated target's
	// console on failure; Log the progress lines.
	Stdout, Stderr io.Writer
	Log            func(format string, args ...any)
	// Interrupted reports a SIGINT or SIGTERM, from the signal on.
	Interrupted func() bool
}

// Settings are kpatch-build's settings that concern the kernel; each
// implementation says which it reads.
type Settings struct {
	SourceDir    string // the kernel tree
	Config       string // -c: the configuration
	Vmlinux      string // -v: the running kernel's vmlinux
	Symvers      string // Module.symvers
	Release      string // KVER (distribution: default from the vmlinux)
	DebugModules string // distribution: the debug modules
	CC           string // the compiler ("": the kernel's own)
	CacheDir     string
	Jobs         int
	Fuzz         int      // GNU patch's --fuzz
	Targets      []string // bundled: make targets
	// SkipCompilerCheck does not compare the compiler with the one that
	// built the kernel; SkipProof does not prove the original objects
	// the running kernel's (distribution; dangerous).
	SkipCompilerCheck, SkipProof bool
	// MaxObjects is the most objects a patch may need compiled
	// (distribution); 0 is the kernel's default, a negative number no
	// limit.
	MaxObjects int
	// Distcc compiles the objects through distcc (distribution; also
	// when DISTCC_HOSTS is set).
	Distcc bool
	// MakeOnly builds a distribution kernel's objects and module with
	// kbuild's make only, never by its recorded commands (the slower
	// path, for comparison).
	MakeOnly bool
	// Debug, if set, receives debug lines (a distribution kernel: why
	// a step took kbuild's make rather than the recorded commands).
	Debug    func(format string, args ...any)
	Log      func(format string, args ...any)
	BuildLog io.Writer
	// FailLog is where a failed build command's output is saved.
	FailLog string
}

// Logf logs a progress line through Log, if set.
func (s *Settings) Logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// ErrNoFacts is the error of a Kernel method called before Facts.
var ErrNoFacts = errors.New("the kernel's facts are not known yet (Facts was not called)")

// Vmlinux is the parent name of the kernel image's objects.
const Vmlinux = "vmlinux"
