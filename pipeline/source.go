package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/kernel/bundled"
	"github.com/kpatchgo/kpatch-build/kernel/distro"
	"github.com/kpatchgo/kpatch-build/kerneltree"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// IsLinuxTree reports whether dir is a Linux kernel source tree (kbuild's
// top-level files), as opposed to the bundled kernel.
func IsLinuxTree(dir string) bool {
	return len(kerneltree.MissingTreeFiles(dir)) == 0
}

// bundledMakefile finds the print-cflags target of a tree like the
// bundled kernel's.
var bundledMakefile = regexp.MustCompile(`(?m)^print-cflags:`)

// CheckSourceDir checks that dir is a kernel tree kpatch-build builds
// from: a Linux tree (kbuild's top-level files) or a tree like the bundled
// kernel's (a Makefile with a print-cflags target). The error names the
// directory and what it lacks.
func CheckSourceDir(dir string) error {
	err := kerneltree.CheckSourceTree(dir)
	var nl *kerneltree.NotLinuxTreeError
	if !errors.As(err, &nl) {
		return err
	}
	if mk, err := os.ReadFile(filepath.Join(dir, "Makefile")); err == nil && bundledMakefile.Match(mk) {
		return nil
	}
	return fmt.Errorf("%s is not a kernel source tree: it has no %s (a Linux tree has Makefile, Kbuild, Kconfig and scripts/Makefile.build; the bundled kernel's tree has a Makefile with a print-cflags target)",
		dir, strings.Join(nl.Missing, ", "))
}

// checkSourceFiles refuses a patch's paths that are not the source tree's
// own files (dir): a file the patch changes, removes, renames or copies
// must be in the tree, as the earlier patches of the run leave it
// (earlier: the files they create, true, or remove, false); a file of a
// Linux tree that the preparation generates (.config,
// include/generated/...) is refused even where the user's tree has one.
// New files are allowed anywhere else in the tree.
func checkSourceFiles(p *patch.Patch, dir string, earlier map[string]bool) error {
	linux := IsLinuxTree(dir)
	for _, f := range p.Files {
		for _, n := range [][2]string{{f.Old, f.OldName}, {f.New, f.NewName}} {
			if n[0] == "" || !linux {
				continue
			}
			real, err := patch.ResolveInTree(dir, n[0])
			if err != nil {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: n[1], Err: err}
			}
			if kerneltree.IsGenerated(n[0]) || kerneltree.IsGenerated(real) {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: n[1], Err: refusal.New(refusal.PatchGenerated)}
			}
		}
		if f.Old != "" && !f.IsNew {
			exists, ok := earlier[f.Old]
			if !ok {
				_, err := os.Stat(filepath.Join(dir, f.Old))
				exists = err == nil
			}
			if !exists {
				return &patch.Error{Patch: p.Path, Line: f.Line, Path: f.OldName, Err: refusal.New(refusal.PatchNotInTree, dir)}
			}
		}
		if f.IsDelete || f.IsRename {
			earlier[f.Old] = false
		}
		if f.New != "" && !f.IsDelete {
			earlier[f.New] = true
		}
	}
	return nil
}

// DefaultMaxObjects is the most objects a patch to a distribution
// kernel may need compiled unless told otherwise (--max-objects).
const DefaultMaxObjects = distro.DefaultMaxObjects

// kernelOf returns the kernel being patched of the source tree: a
// distribution kernel for a Linux tree, the bundled kernel for any other.
// It is the one place the choice is made.
func (o *Options) kernelOf() kernel.Kernel {
	s := kernel.Settings{SourceDir: o.SourceDir, Config: o.Config, Vmlinux: o.Vmlinux, Symvers: o.Symvers, Release: o.Release,
		DebugModules: o.DebugModules, CC: o.CC, CacheDir: o.CacheDir, Jobs: o.Jobs, Fuzz: o.Fuzz, Targets: o.Targets,
		SkipCompilerCheck: o.SkipCompilerCheck, SkipProof: o.SkipProof, MaxObjects: o.MaxObjects, Distcc: o.Distcc, MakeOnly: o.MakeOnly, Debug: o.Debug, Log: o.Log, BuildLog: o.BuildLog, FailLog: o.failLog()}
	if IsLinuxTree(o.SourceDir) {
		return distro.New(s)
	}
	return bundled.New(s)
}

// ReadChecks reads the checks the patches carry (each PATCH.expect) for
// the verifier of the kernel of sourceDir ("": the bundled kernel's
// tree), strictly: a malformed line is refused with its file and line
// before anything is built.
func ReadChecks(sourceDir string, patches []string) (*expect.Set, error) {
	o := &Options{SourceDir: sourceDir}
	return expect.ReadPatches(patches, o.kernelOf().Verifier())
}
