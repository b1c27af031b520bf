package kerneltree

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/build"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// ObjectsOptions describe the original and patched builds of a set of
// objects.
type ObjectsOptions struct {
	// Objects are the tree-relative objects to build (fs/proc/meminfo.o).
	Objects []string
	// Patches are applied, in order, to the patched build, with up to
	// Fuzz context lines of a hunk ignored (0: exactly).
	Patches []*build.Patch
	Fuzz    int
	// Headers are the patch-author API's headers by file name
	// (kpatch-macros.h, kpatch-syscall.h), put on the include path of
	// both builds.
	Headers map[string][]byte
	// CacheDir holds the original objects; WorkDir (private to the run)
	// receives the patched objects.
	CacheDir, WorkDir string
	// Jobs is make's -j.
	Jobs int
	// Log receives progress lines; BuildLog receives make's output.
	Log      func(format string, args ...any)
	BuildLog io.Writer
	// FailLog, if set, is where the output of a make that fails is
	// saved (the error names it).
	FailLog string
}

// Objects are the two builds of a set of objects.
type Objects struct {
	// OrigDir holds the original objects at their tree-relative paths (in
	// the cache: read only).
	OrigDir string
	// PatchedDir holds the patched objects at their tree-relative paths.
	PatchedDir string
	// Cached counts the original objects that came from the cache.
	Cached int
	// Fuzzed are the hunks the patches applied with fuzz.
	Fuzzed []build.FuzzedHunk
}

// objectsVersion changes when the object builds' flags change.
const objectsVersion = "2"

// includeDir is the directory of the prepared tree that holds the
// patch-author API's headers (kpatch-macros.h, kpatch-syscall.h).
const includeDir = ".kpatch-include"

// KCFLAGS are the flags added to the kernel's own for every object and
// for the preparation (so it stays up to date): function and data
// sections for the diff, the patch-author headers' directory on the
// include path (relative: kbuild compiles from the tree's top).
const KCFLAGS = build.FunctionSections + " -I./" + includeDir

// kcflags are the KCFLAGS of the make runs in the prepared tree at dir:
// KCFLAGS, and dir mapped to "." in the debug info and file macros, so
// that no object carries the cache's location (or a run's): two caches
// give modules of the same bytes. The map names the tree's final
// directory from the preparation on, so the commands kbuild records stay
// the same for every later build.
func kcflags(dir string) string { return KCFLAGS + " -ffile-prefix-map=" + dir + "=." }

// journalName is the record of a patched build in progress: the files
// the patches replaced (their originals kept under savedDir) and the
// objects built, undone by the next run if this one is killed.
const (
	journalName = ".kpatch-journal"
	savedDir    = ".kpatch-saved"
)

type journal struct {
	Files   []string // tree-relative files the patches replace or remove (kept)
	New     []string // tree-relative files the patches create
	Objects []string // objects the build writes
}

// BuildObjects builds the original objects not cached yet and the
// patched objects, each through one make call with kbuild's single-object
// targets, so every object gets the flags, KBUILD_MODNAME and -DMODULE
// its directory's Makefile gives it. Both builds happen in the prepared
// tree itself, one run at a time (a lock): the tree's tools record their
// absolute paths, so any copy of the tree would rebuild them (about 30 s).
// The patches are undone and the built objects moved out before the lock
// is released; a killed run's changes are undone by the next run from
// the journal.
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
		if !strings.HasSuffix(obj, ".o") || filepath.IsAbs(obj) || obj != filepath.Clean(obj) || strings.HasPrefix(obj, "..") {
			return nil, fmt.Errorf("object %q: not a tree-relative .o path", obj)
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
	key := sha256.Sum256([]byte(fmt.Sprintf("%s\n%s\n%s\n%x", objectsVersion, t.Key, KCFLAGS, headers.Sum(nil))))
	res := &Objects{OrigDir: filepath.Join(o.CacheDir, "objects-"+hex.EncodeToString(key[:])[:20]), PatchedDir: filepath.Join(o.WorkDir, "patched")}
	var missing []string
	for _, obj := range o.Objects {
		if _, err := os.Stat(filepath.Join(res.OrigDir, obj)); err == nil {
			res.Cached++
		} else {
			missing = append(missing, obj)
		}
	}
	lock, err := lockFile(t.Dir + ".lock")
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	t.lock = lock
	if err := t.recover(); err != nil {
		return nil, err
	}
	for _, name := range names {
		inc := filepath.Join(t.Dir, includeDir, name)
		if b, err := os.ReadFile(inc); err != nil || string(b) != string(o.Headers[name]) {
			if err := os.MkdirAll(filepath.Dir(inc), 0o755); err != nil {
				return nil, err
			}
			if err := elfobj.WriteFileAtomic(inc, o.Headers[name], 0o644); err != nil {
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
	var files []string
	for _, p := range o.Patches {
		files = append(files, patchedFiles(p)...)
	}
	if err := t.saveOriginals(files, o.Objects); err != nil {
		return nil, err
	}
	err = t.applyAndBuild(ctx, &o, res)
	if rerr := t.recover(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	logf("built %d patched object(s) in %.1fs", len(o.Objects), time.Since(start).Seconds())
	return res, nil
}

func (t *Tree) applyAndBuild(ctx context.Context, o *ObjectsOptions, res *Objects) error {
	for _, p := range o.Patches {
		if o.Log != nil {
			o.Log("applying %s", filepath.Base(p.Path))
		}
		fuzzed, err := p.ApplyWith(t.Dir, build.ApplyOptions{Fuzz: o.Fuzz, Log: o.Log})
		if err != nil {
			return err
		}
		res.Fuzzed = append(res.Fuzzed, fuzzed...)
	}
	if err := t.make(ctx, o, o.Objects, patchedBuild); err != nil {
		return err
	}
	return moveObjects(t.Dir, res.PatchedDir, o.Objects)
}

// patchedFiles are the tree-relative files a patch writes or removes,
// old and new names alike (a rename removes its old name: the journal
// must restore it).
func patchedFiles(p *build.Patch) []string {
	var out []string
	for _, f := range p.Paths() {
		out = append(out, filepath.Clean(f.Path))
	}
	return out
}

// saveOriginals keeps a link to each file the patches will replace and
// writes the journal, before anything is changed.
func (t *Tree) saveOriginals(files, objects []string) error {
	saved := filepath.Join(t.Dir, savedDir)
	if err := os.RemoveAll(saved); err != nil {
		return err
	}
	j := &journal{Objects: objects}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		if f == "." || strings.HasPrefix(f, "..") || filepath.IsAbs(f) {
			return fmt.Errorf("the patch writes %s, outside the tree", f)
		}
		src := filepath.Join(t.Dir, f)
		if _, err := os.Lstat(src); err != nil {
			j.New = append(j.New, f)
			continue
		}
		dst := filepath.Join(saved, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Link(src, dst); err != nil {
			return fmt.Errorf("keep %s: %w", f, err)
		}
		j.Files = append(j.Files, f)
	}
	return t.writeJournal(j)
}

func (t *Tree) writeJournal(j *journal) error {
	b, _ := json.Marshal(j)
	return elfobj.WriteFileAtomic(filepath.Join(t.Dir, journalName), b, 0o644)
}

// recover undoes the journal's build, if any: the patched files get their
// originals back (or are removed when the patch created them), the
// objects are removed (a patched object is newer than the restored
// source: make would take it as up to date).
func (t *Tree) recover() error {
	path := filepath.Join(t.Dir, journalName)
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
	saved := filepath.Join(t.Dir, savedDir)
	for _, f := range j.New {
		if err := os.Remove(filepath.Join(t.Dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, f := range j.Files {
		dst := filepath.Join(t.Dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(saved, f), dst); err != nil {
			return fmt.Errorf("restore %s: %w", f, err)
		}
	}
	for _, obj := range j.Objects {
		os.Remove(filepath.Join(t.Dir, obj))
	}
	if err := os.RemoveAll(saved); err != nil {
		return err
	}
	if err := t.checkState(); err != nil {
		return err
	}
	return os.Remove(path)
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
	if err := build.Make(ctx, desc, args, nil, o.BuildLog, []*os.File{t.lock}, o.FailLog); err != nil {
		var me *build.MakeError
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
