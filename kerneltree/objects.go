package kerneltree

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// ObjectsOptions describe the original and patched builds of a set of
// objects.
type ObjectsOptions struct {
	// Objects are the tree-relative objects to build (fs/proc/meminfo.o).
	Objects []string
	// Patches are applied, in order, to the patched build, with up to
	// Fuzz context lines of a hunk ignored (0: exactly).
	Patches []*patch.Patch
	Fuzz    int
	// Headers are the patch-author API's headers by file name
	// (kpatch-macros.h, kpatch-syscall.h), put on the include path of
	// both builds.
	Headers map[string][]byte
	// WorkDir (private to the run) receives the patched objects; the
	// original objects are kept with the prepared tree.
	WorkDir string
	// Jobs is make's -j.
	Jobs int
	// Env is added to the environment of the compiles' make: PATH
	// with distcc's masquerade directory first sends them to distcc's
	// helpers under the same CC (a different CC would make kbuild
	// reconfigure the tree).
	Env []string
	// Log receives progress lines; BuildLog receives make's output.
	Log      func(format string, args ...any)
	BuildLog io.Writer
	// FailLog, if set, is where the output of a make that fails is
	// saved (the error names it).
	FailLog string
	// Debug, if set, receives debug lines: why the patched objects
	// were built by make rather than by their recorded commands.
	Debug func(format string, args ...any)
	// MakeOnly builds every object with make, never with its recorded
	// command (the slower path, which the fast one must equal).
	MakeOnly bool
}

// Objects are the two builds of a set of objects.
type Objects struct {
	// OrigDir holds the original objects at their tree-relative paths (in
	// the cache, beside the prepared tree: read only).
	OrigDir string
	// PatchedDir holds the patched objects at their tree-relative paths.
	PatchedDir string
	// Cached counts the original objects that came from the cache.
	Cached int
	// Fuzzed are the hunks the patches applied with fuzz.
	Fuzzed []patch.FuzzedHunk
}

// objectsVersion changes when the object builds' flags change.
const objectsVersion = "2"

// includeDir is the directory beside the prepared tree that holds the
// patch-author API's headers (kpatch-macros.h, kpatch-syscall.h), where
// no patch reaches.
const includeDir = "kpatch-include"

// KCFLAGS are the flags added to the kernel's own for every object and
// for the preparation (so it stays up to date): function and data
// sections for the diff, DirectivesOnly, the patch-author headers'
// directory on the include path. The directory is the prepared tree's
// sibling, named relative to the tree (kbuild compiles from the tree's
// top): like the tree's own directory, which kcflags maps to ".", it puts
// no path of the cache in the flags (part of the cache keys and of
// kbuild's .cmd files) or in the objects' debug info.
const KCFLAGS = kbuild.FunctionSections + " " + DirectivesOnly + " -I../" + includeDir

// DirectivesOnly makes an object compiled in two steps (distcc: the
// preprocessor here, the compiler on a helper) byte-identical to one
// compiled in one. Without it the helper compiles macro-expanded text,
// where gcc counts the DWARF's columns in the expansion; with it the
// preprocessor only includes and evaluates directives, and the helper
// expands the macros where the source has them. In a one-step compile
// it changes nothing but DW_AT_producer, which records it
// (TestDirectivesOnly). kbuild's genksyms, which reads the preprocessed
// text of an object that exports symbols, then finds no exports: the
// objects' .cmd files have no #SYMVER lines, which only a module link
// in this tree would read, and the livepatch module's versions come
// from the kernel's Module.symvers.
const DirectivesOnly = "-fdirectives-only"

// kcflags are the KCFLAGS of the make runs in the prepared tree at dir:
// KCFLAGS, and dir mapped to "." in the debug info and file macros, so
// that no object carries the cache's location (or a run's): two caches
// give modules of the same bytes. The map names the tree's final
// directory from the preparation on, so the commands kbuild records stay
// the same for every later build.
func kcflags(dir string) string { return KCFLAGS + " -ffile-prefix-map=" + dir + "=." }

// journalName, beside the prepared tree, is the record of a build in
// progress: the files the patches change and the objects built, undone
// by the next run if this one is killed.
const journalName = "journal"

type journal struct {
	// Files are the tree-relative paths the patches write, create or
	// remove, as the patches name them and with their symlinks resolved:
	// each is put back as the source tree has it.
	Files []string
	// Objects are the objects the build writes, removed with kbuild's
	// files about them (.cmd, .d).
	Objects []string
}

// BuildObjects builds the original objects not cached yet and the
// patched objects, each through one make call with kbuild's single-object
// targets, so every object gets the flags, KBUILD_MODNAME and -DMODULE
// its directory's Makefile gives it. Both builds happen in the prepared
// tree itself, one run at a time (a lock): the tree's tools record their
// absolute paths, so any copy of the tree would rebuild them (about 30 s).
// The files the patches changed are put back from the source tree and the
// built objects moved out before the lock is released; a killed run's
// changes are undone by the next run from the journal.
func (t *Tree) BuildObjects(ctx context.Context, o ObjectsOptions) (*Objects, error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(format, args...)
		}
	}
	if len(o.Objects) == 0 {
		return nil, errors.New("no objects to build")
	}
	for _, obj := range o.Objects {
		if err := checkObject(obj); err != nil {
			return nil, err
		}
	}
	headers := sha256.New()
	names := make([]string, 0, len(o.Headers))
	for name := range o.Headers {
		if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			return nil, fmt.Errorf("header %q: not a file name", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(headers, "%s %x\n", name, sha256.Sum256(o.Headers[name]))
	}
	// The original objects are part of the prepared tree's entry, filled
	// in place under its lock, one object at a time.
	key := cache.Key(cache.Parts{"objects": objectsVersion, "tree": t.Key, "kcflags": KCFLAGS, "headers": fmt.Sprintf("%x", headers.Sum(nil))})
	res := &Objects{OrigDir: filepath.Join(t.home, "objects-"+key), PatchedDir: filepath.Join(o.WorkDir, "patched")}
	var missing []string
	for _, obj := range o.Objects {
		if _, err := os.Stat(filepath.Join(res.OrigDir, obj)); err == nil {
			res.Cached++
		} else {
			missing = append(missing, obj)
		}
	}
	lock, err := t.lockEntry()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	t.lock = lock
	if err := t.recover(); err != nil {
		return nil, err
	}
	for _, name := range names {
		inc := filepath.Join(t.home, includeDir, name)
		if b, err := os.ReadFile(inc); err != nil || string(b) != string(o.Headers[name]) {
			if err := os.MkdirAll(filepath.Dir(inc), 0o755); err != nil {
				return nil, err
			}
			if err := worktree.ReplaceFile(inc, o.Headers[name], 0o644); err != nil {
				return nil, err
			}
		}
	}
	if len(missing) > 0 {
		start := time.Now()
		logf("building %d original object(s) (%d cached)", len(missing), res.Cached)
		if err := t.writeJournal(&journal{Objects: missing}); err != nil {
			return nil, err
		}
		err := t.make(ctx, &o, missing, "original build")
		if err == nil {
			err = saveRecords(t.Dir, res.OrigDir, missing)
		}
		if err == nil {
			err = moveObjects(t.Dir, res.OrigDir, missing)
		}
		if rerr := t.recover(); err == nil {
			err = rerr
		}
		if err != nil {
			return nil, err
		}
		logf("built the original objects in %.1fs", time.Since(start).Seconds())
	} else {
		logf("using %d cached original object(s)", res.Cached)
	}
	start := time.Now()
	j := &journal{Objects: o.Objects}
	for _, p := range o.Patches {
		files, err := t.patchedFiles(p)
		if err != nil {
			return nil, err
		}
		j.Files = append(j.Files, files...)
	}
	if err := t.writeJournal(j); err != nil {
		return nil, err
	}
	how, err := t.applyAndBuild(ctx, &o, res, j.Files)
	if rerr := t.recover(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	logf("built %d patched object(s) in %.1fs (%s)", len(o.Objects), time.Since(start).Seconds(), how)
	return res, nil
}

// Locked runs fn holding the prepared tree's lock: no other run's patches
// are applied to the tree while fn reads it (a module built against the
// tree's headers).
func (t *Tree) Locked(fn func() error) error {
	lock, err := t.lockEntry()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := t.recover(); err != nil {
		return err
	}
	return fn()
}

// applyAndBuild applies the patches to the tree and builds the patched
// objects: with the commands kbuild recorded for them when their
// original build did (recordedCommands says when), with make otherwise.
// It says which.
func (t *Tree) applyAndBuild(ctx context.Context, o *ObjectsOptions, res *Objects, patched []string) (string, error) {
	for _, p := range o.Patches {
		if o.Log != nil {
			o.Log("applying %s", filepath.Base(p.Path))
		}
		fuzzed, err := p.ApplyWith(t.Dir, patch.ApplyOptions{Fuzz: o.Fuzz, Log: o.Log})
		if err != nil {
			return "", err
		}
		res.Fuzzed = append(res.Fuzzed, fuzzed...)
	}
	how := "make"
	cmds, err := t.recordedCommands(res.OrigDir, o.Objects, patched)
	switch {
	case o.MakeOnly:
		err = errors.New("make only")
	case err == nil:
		how = "kbuild's recorded commands"
		err = t.runRecorded(ctx, o, cmds, o.Objects)
		if ctx.Err() != nil {
			return "", err
		}
		if err != nil {
			// make says why, as it always has (a patch that does not
			// compile is refused with make's words), or builds what
			// the recorded commands could not.
			how = "make"
			err = fmt.Errorf("a recorded command failed: %w", err)
		}
	}
	if err != nil {
		if o.Debug != nil {
			o.Debug("patched objects built by make: %v", err)
		}
		if err := t.make(ctx, o, o.Objects, patchedBuild); err != nil {
			return "", err
		}
		if err := saveRecords(t.Dir, res.OrigDir, o.Objects); err != nil {
			return "", err
		}
	}
	return how, moveObjects(t.Dir, res.PatchedDir, o.Objects)
}

// patchedFiles are the tree-relative files a patch writes or removes,
// old and new names alike (a rename removes its old name), as the patch
// names them and, where a symlink of the tree is on the way, as resolved:
// replacing a file through a symlinked directory replaces the link's
// target, and replacing a symlinked file replaces the link.
func (t *Tree) patchedFiles(p *patch.Patch) ([]string, error) {
	var out []string
	for _, f := range p.Paths() {
		out = append(out, f.Path)
		real, err := patch.ResolveInTree(t.Dir, f.Path)
		if err != nil {
			return nil, &patch.Error{Patch: p.Path, Line: f.Line, Path: f.Path, Err: err}
		}
		if real != f.Path {
			out = append(out, real)
		}
	}
	return out, nil
}

func (t *Tree) writeJournal(j *journal) error {
	b, _ := json.Marshal(j)
	return worktree.ReplaceFile(filepath.Join(t.home, journalName), b, 0o644)
}

// checkObject checks an object's path as the callers name it, or as the
// journal records it: a clean tree-relative .o path.
func checkObject(obj string) error {
	if !strings.HasSuffix(obj, ".o") || filepath.IsAbs(obj) || obj != filepath.Clean(obj) || obj == ".." || strings.HasPrefix(obj, "../") ||
		patch.ToolStateName(obj) != "" {
		return fmt.Errorf("object %q: not a tree-relative .o path", obj)
	}
	return nil
}

// recover undoes the journal's build, if any: every file the patches
// changed is the source tree's again (removed when the source tree does
// not have it), the objects are removed (a patched object is newer than
// the restored source: make would take it as up to date) with kbuild's
// files about them (.cmd, .d). The journal is state beside the tree, which no patch reaches;
// still, each of its paths is checked like a patch's path (clean,
// relative, inside the tree, no symlink out of it) before it is used.
func (t *Tree) recover() error {
	path := filepath.Join(t.home, journalName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range j.Files {
		if err := t.restore(f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, obj := range j.Objects {
		if err := checkObject(obj); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if real, err := patch.ResolveInTree(t.Dir, obj); err != nil || real != obj {
			return fmt.Errorf("%s: object %s: not a path of the tree's own directories (%w)", path, obj, err)
		}
		// kbuild's record of the object's command, and the dependency
		// list that genksyms's preprocessor run writes again after
		// fixdep removed the compiler's (objects that export symbols,
		// with CONFIG_MODVERSIONS).
		dot := filepath.Join(filepath.Dir(obj), "."+filepath.Base(obj))
		for _, f := range []string{obj, dot + ".cmd", dot + ".d"} {
			if err := os.Remove(filepath.Join(t.Dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := t.checkState(); err != nil {
		return err
	}
	return os.Remove(path)
}

// restore makes the prepared tree's rel the source tree's again: the
// file linked again (copied when it cannot be linked, as the preparation
// did), a symlink made again, or removed with the directories the patch
// made for it when the source tree does not have it. rel is checked
// first: a clean tree-relative path, no name of the tool's state, and the
// directories on its way inside the tree.
func (t *Tree) restore(rel string) error {
	if patch.ToolStateName(rel) != "" {
		return fmt.Errorf("%q: %w", rel, patch.ErrNotInTree)
	}
	real, err := patch.ResolveParentInTree(t.Dir, rel)
	if err != nil {
		return err
	}
	dir := path.Dir(real)
	dst := filepath.Join(t.Dir, real)
	src := filepath.Join(t.Source, rel)
	info, err := os.Lstat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// The directories the patch made for a new file.
		for d := dir; d != "."; d = filepath.Dir(d) {
			if _, err := os.Lstat(filepath.Join(t.Source, d)); err == nil || os.Remove(filepath.Join(t.Dir, d)) != nil {
				break
			}
		}
		return nil
	case err != nil:
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), fmt.Sprintf("%sreplace-restore-%d", patch.ToolStatePrefix, os.Getpid()))
	os.Remove(tmp)
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		l, err := os.Readlink(src)
		if err == nil {
			err = os.Symlink(l, tmp)
		}
		if err != nil {
			return err
		}
	case info.Mode().IsRegular():
		if err := worktree.LinkOrCopy(src, tmp); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: not a regular file in the source tree", rel)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore %s: %w", rel, err)
	}
	return nil
}

// moveObjects moves objects from the tree to dir (same relative paths),
// each atomically.
func moveObjects(tree, dir string, objs []string) error {
	for _, obj := range objs {
		dst := filepath.Join(dir, obj)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tree, obj), dst); err != nil {
			return fmt.Errorf("%s: %w", obj, err)
		}
	}
	return nil
}

// patchedBuild names the build of the patched objects, whose failure is
// the patch's (refusal.PatchedBuild).
const patchedBuild = "patched build"

// make builds objects in the tree with one make call; what names the
// build in its error.
func (t *Tree) make(ctx context.Context, o *ObjectsOptions, objs []string, what string) error {
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 1
	}
	sorted := append([]string(nil), objs...)
	sort.Strings(sorted)
	args := append(MakeArgs(t.Dir, jobs, t.CC, t.Release, t.Vars...), "KCFLAGS="+kcflags(t.Dir))
	args = append(args, sorted...)
	desc := "make " + strings.Join(sorted, " ")
	if len(sorted) > 4 {
		desc = fmt.Sprintf("make %s ... (%d objects)", strings.Join(sorted[:4], " "), len(sorted))
	}
	if err := kbuild.Make(ctx, desc, args, o.Env, o.BuildLog, t.lock.Files(), o.FailLog); err != nil {
		var me *kbuild.MakeError
		if what == patchedBuild && errors.As(err, &me) {
			// The patch does not compile: the author's to fix.
			return refusal.New(refusal.PatchedBuild, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, obj := range objs {
		if _, err := os.Stat(filepath.Join(t.Dir, obj)); err != nil {
			return fmt.Errorf("%s: make did not produce %s", what, obj)
		}
	}
	return nil
}
