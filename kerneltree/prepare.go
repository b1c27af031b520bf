package kerneltree

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/kbuild"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// PrepareOptions describe a prepared tree.
type PrepareOptions struct {
	// SourceDir is the user's extracted kernel source; it is only read.
	SourceDir string
	// Config is the running kernel's configuration, Symvers its
	// Module.symvers (copied into the tree for module builds).
	Config, Symvers string
	// Release (KERNELRELEASE) and CC (the compiler) are the running
	// kernel's (see Running).
	Release, CC string
	// CacheDir holds the prepared trees.
	CacheDir string
	// Jobs is make's -j.
	Jobs int
	// Log receives progress lines; BuildLog receives make's output.
	Log      func(format string, args ...any)
	BuildLog io.Writer
}

// Tree is a prepared kernel tree: a work copy of the user's sources (hard
// links) with the kernel's configuration, after make olddefconfig and
// make modules_prepare. It is shared by every run with the same key; a run
// builds objects in it, patches applied, and puts back the source tree's
// files before it lets the next run in (BuildObjects).
type Tree struct {
	Dir     string // the prepared tree, where patches are applied
	Source  string // the user's tree (read only), what the prepared tree's files are restored from
	Key     string // the cache key: sources, configuration, compiler, release
	Release string // KERNELRELEASE
	CC      string // the compiler
	// Vars are the make variables the configuration needs besides CC
	// and KERNELRELEASE (ConfigVars), given to every make run in the
	// tree, the module build's included.
	Vars   []string
	Cached bool // the tree came from the cache

	home string       // the tree's entry in the cache: Dir and, beside it, the tool's state
	lock *cache.Entry // held while objects are built
}

// prepareVersion changes when the preparation's steps or its directory's
// layout change.
const prepareVersion = "3"

// The directory of a prepared tree in the cache, prefixPrepared+KEY, holds
// the tree (treeDir) and, beside it, where no patch reaches (the paths of
// a patch are checked to stay inside the tree it is applied to), the
// tool's own state: the markers and records below, the patched build's
// journal (journalName), the patch-author headers (includeDir) and the original
// objects (objectsPrefix+KEY). It is an entry of the cache changed in
// place under the entry's lock (cache.LockEntry), complete
// (cache.Complete) once the preparation finished.
const (
	prefixPrepared = "prepared-"
	treeDir        = "tree"
	stateName      = "generated-state" // sizes and times of the generated files every object depends on (stateFiles)
	manifestName   = "manifest"        // what the preparation made (verify)
	prepareLogName = "prepare.log"
)

// sourceFile is a file of the user's tree that a work copy takes.
type sourceFile struct {
	rel  string // tree-relative, with slashes
	info fs.FileInfo
}

// sourceFiles lists the files of the user's tree a work copy takes
// (worktree.CopyTree's choice), sorted by path.
func sourceFiles(src string) ([]sourceFile, error) {
	var files []sourceFile
	var mu sync.Mutex
	rel := relTo(src)
	err := walkParallel(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if worktree.CopyTreeSkips(d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel := rel(p)
		mu.Lock()
		files = append(files, sourceFile{rel: rel, info: info})
		mu.Unlock()
		return nil
	})
	// The walk visits in no particular order: the key sorts.
	sort.Slice(files, func(a, b int) bool { return files[a].rel < files[b].rel })
	return files, err
}

// TreeKey is the cache key of a prepared tree. The sources count by their
// paths, modes, sizes and modification times (what make itself trusts;
// hashing 1.4 GB of sources would cost more than the preparation saves),
// the configuration by its contents, the compiler by its version.
func TreeKey(o *PrepareOptions) (string, error) {
	key, _, err := treeKey(o)
	return key, err
}

// treeKey is TreeKey, with the source files it read.
func treeKey(o *PrepareOptions) (string, []sourceFile, error) {
	files, err := sourceFiles(o.SourceDir)
	if err != nil {
		return "", nil, fmt.Errorf("source tree %s: %w", o.SourceDir, err)
	}
	cfg, err := os.ReadFile(o.Config)
	if err != nil {
		return "", nil, fmt.Errorf("config: %w", err)
	}
	symvers, err := os.ReadFile(o.Symvers)
	if err != nil {
		return "", nil, fmt.Errorf("Module.symvers: %w", err)
	}
	listing := sha256.New()
	for _, f := range files {
		fmt.Fprintf(listing, "%s\x00%v\x00%d\x00%d\n", f.rel, f.info.Mode(), f.info.Size(), f.info.ModTime().UnixNano())
	}
	return cache.Key(cache.Parts{
		"prepare":  prepareVersion,
		"release":  o.Release,
		"compiler": kbuild.CompilerID(o.CC),
		"config":   fmt.Sprintf("%x", sha256.Sum256(cfg)),
		"symvers":  fmt.Sprintf("%x", sha256.Sum256(symvers)),
		"kcflags":  KCFLAGS,
		"vars":     fmt.Sprintf("%q", ConfigVars(cfg)),
		"sources":  fmt.Sprintf("%x", listing.Sum(nil)),
	}), files, nil
}

// Prepare returns the prepared tree for o, from the cache or made now. A
// cached tree is trusted only as far as it is checked: under its lock,
// what a killed run left patched is put back (the journal), then every
// file is compared with the source tree and with what the preparation
// made (verify); a tree that differs is discarded with its original
// objects, with a line naming the file, and prepared again.
func Prepare(ctx context.Context, o PrepareOptions) (*Tree, error) {
	if o.Jobs <= 0 {
		o.Jobs = 1
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(format, args...)
		}
	}
	if o.Release == "" || o.CC == "" {
		return nil, fmt.Errorf("prepare %s: the kernel release and the compiler are required", o.SourceDir)
	}
	if err := CheckSourceTree(o.SourceDir); err != nil {
		return nil, err
	}
	key, files, err := treeKey(&o)
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(o.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	name := prefixPrepared + key
	home := filepath.Join(o.CacheDir, name)
	t := &Tree{Dir: filepath.Join(home, treeDir), Source: o.SourceDir, Key: key, Release: o.Release, CC: o.CC, Vars: ConfigVars(cfg), home: home}
	// The tree is prepared where it stays, and objects are built in it
	// (BuildObjects): the tools kbuild builds (objtool, resolve_btfids)
	// record absolute paths, so a copy elsewhere would rebuild them. The
	// entry's lock keeps concurrent runs out; a run killed halfway leaves
	// no marker, and the next run (or the cache's sweep) starts over.
	lock, err := cache.LockEntry(o.CacheDir, name, o.Log)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if cache.IsComplete(home) {
		start := time.Now()
		diff := ""
		if err := t.recover(); err != nil {
			diff = err.Error()
		} else if diff, err = t.verify(files); err != nil {
			diff = err.Error()
		}
		if diff == "" {
			t.Cached = true
			logf("using the prepared tree %s (checked against the source tree in %.1fs)", key, time.Since(start).Seconds())
			return t, nil
		}
		logf("the prepared tree %s differs from the source tree: %s; preparing it again", key, diff)
	}
	if err := lock.Reset(); err != nil {
		return nil, err
	}
	fail := func(err error) (*Tree, error) {
		os.RemoveAll(home)
		return nil, err
	}
	logf("preparing the tree %s (olddefconfig, modules_prepare)", key)
	start := time.Now()
	tmp := t.Dir
	if err := worktree.CopyTree(o.SourceDir, tmp); err != nil {
		return fail(fmt.Errorf("copy %s: %w", o.SourceDir, err))
	}
	// A new file: the copy's .config, if any, is a link to the user's.
	os.Remove(filepath.Join(tmp, ".config"))
	if err := os.WriteFile(filepath.Join(tmp, ".config"), cfg, 0o644); err != nil {
		return fail(err)
	}
	symvers, err := os.ReadFile(o.Symvers)
	if err == nil {
		os.Remove(filepath.Join(tmp, "Module.symvers"))
		err = os.WriteFile(filepath.Join(tmp, "Module.symvers"), symvers, 0o644)
	}
	if err != nil {
		return fail(fmt.Errorf("Module.symvers: %w", err))
	}
	logFile, err := os.Create(filepath.Join(home, prepareLogName))
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	w := io.Writer(logFile)
	if o.BuildLog != nil {
		w = io.MultiWriter(logFile, o.BuildLog)
	}
	// The objects' flags, so that single-object builds find everything
	// prepare built up to date.
	args := append(MakeArgs(tmp, o.Jobs, o.CC, o.Release, t.Vars...), "KCFLAGS="+kcflags(t.Dir))
	if err := kbuild.Make(ctx, "make olddefconfig", append(args, "olddefconfig"), nil, w, lock.Files(), ""); err != nil {
		return fail(err)
	}
	newCfg, err := os.ReadFile(filepath.Join(tmp, ".config"))
	if err != nil {
		return fail(err)
	}
	if d := ConfigDiff(cfg, newCfg); d != "" {
		logf("warning: make olddefconfig changed the configuration (is the source tree the running kernel's?): %s", d)
	}
	logf("olddefconfig done (%.1fs)", time.Since(start).Seconds())
	if err := kbuild.Make(ctx, "make modules_prepare", append(args, "modules_prepare"), nil, w, lock.Files(), ""); err != nil {
		return fail(err)
	}
	st, err := t.generatedState()
	if err == nil {
		err = os.WriteFile(filepath.Join(home, stateName), []byte(st), 0o644)
	}
	if err == nil {
		err = t.writeManifest(files)
	}
	if err != nil {
		return fail(err)
	}
	if err := cache.MarkComplete(home); err != nil {
		return fail(err)
	}
	logf("prepared the tree in %.1fs", time.Since(start).Seconds())
	return t, nil
}

// MakeArgs are the arguments of every make run in a tree: the running
// kernel's compiler and release and the configuration's variables
// (ConfigVars), so nothing the kernel was built with differs.
func MakeArgs(dir string, jobs int, cc, release string, vars ...string) []string {
	return append([]string{"-C", dir, fmt.Sprintf("-j%d", jobs), "CC=" + cc, "HOSTCC=" + cc, "KERNELRELEASE=" + release}, vars...)
}

// NoRustc is the RUSTC of a tree whose kernel was configured without a
// Rust compiler: a program whose --version fails, as a missing rustc's
// would.
const NoRustc = "false"

// ConfigVars are the make variables that keep Kconfig's view of the
// toolchain the kernel's: Kconfig asks the tools for their versions
// (CONFIG_RUSTC_VERSION from "$(RUSTC) --version", 6.12 on), so a Rust
// compiler installed here but absent when the kernel was configured
// (CONFIG_RUSTC_VERSION=0, Debian's 6.12) would make olddefconfig change
// the configuration; RUSTC is then a program that is not a Rust compiler.
func ConfigVars(config []byte) []string {
	for _, line := range strings.Split(string(config), "\n") {
		if line == "CONFIG_RUSTC_VERSION=0" {
			return []string{"RUSTC=" + NoRustc}
		}
	}
	return nil
}

// stateFiles are the preparation's outputs every object depends on
// (relative paths; directories count with their files): a patched build
// that rewrote one (a header patch that changes asm-offsets) leaves the
// tree unusable for the next run.
var stateFiles = []string{".config", "include/config/auto.conf", "include/generated", "arch/x86/include/generated", "Module.symvers"}

// generatedState describes the stateFiles: path, size and modification time.
func (t *Tree) generatedState() (string, error) {
	var b strings.Builder
	for _, f := range stateFiles {
		err := filepath.WalkDir(filepath.Join(t.Dir, f), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(t.Dir, p)
			fmt.Fprintf(&b, "%s %d %d\n", rel, info.Size(), info.ModTime().UnixNano())
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return b.String(), nil
}

// checkState compares the tree's state with the one recorded when it was
// prepared; a changed tree loses its completion marker, so the next run
// prepares it again.
func (t *Tree) checkState() error {
	want, err := os.ReadFile(filepath.Join(t.home, stateName))
	if err != nil {
		return err
	}
	got, err := t.generatedState()
	if err != nil {
		return err
	}
	if got != string(want) {
		cache.MarkIncomplete(t.home)
		return fmt.Errorf("the patched build changed the prepared tree %s (generated files); it will be prepared again on the next run", t.Dir)
	}
	return nil
}

// configDiff describes the options whose values differ between two
// configurations (comments ignored), or "" when none do.
// ConfigDiff lists the options whose values differ between two kernel
// configurations ("CONFIG_X y -> n", at most ten, then a count), "" when
// none do.
func ConfigDiff(a, b []byte) string {
	parse := func(b []byte) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				m[k] = v
			} else if strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set") {
				m[strings.Fields(line)[1]] = "n"
			}
		}
		return m
	}
	ma, mb := parse(a), parse(b)
	var diffs []string
	for k, v := range ma {
		if mb[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s %s -> %s", k, v, mb[k]))
		}
	}
	for k, v := range mb {
		if _, ok := ma[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s (new) %s", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("and %d more", len(diffs)-10))
	}
	return strings.Join(diffs, ", ")
}

// lockEntry takes the prepared tree's entry lock (cache.LockEntry): no
// other run's patches are in the tree while it is held.
func (t *Tree) lockEntry() (*cache.Entry, error) {
	return cache.LockEntry(filepath.Dir(t.home), filepath.Base(t.home), nil)
}
