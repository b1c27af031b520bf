package kerneltree

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kpatchgo/kpatch-build/build"
)

// PrepareOptions describe a prepared tree.
type PrepareOptions struct {
	// SourceDir is the user's extracted kernel source; it is only read.
	SourceDir string
	// Config is the running kernel's configuration.
	Config string
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
// make modules_prepare. It is shared by every run with the same key and
// never written once published: builds happen in clones (Clone).
type Tree struct {
	Dir     string // the prepared tree (read only)
	Key     string // the cache key: sources, configuration, compiler, release
	Release string // KERNELRELEASE
	CC      string // the compiler
	Cached  bool   // the tree came from the cache
	// generated lists the files the preparation wrote (tree-relative):
	// clones copy them, so a rebuild never writes through a link.
	generated map[string]bool
}

// prepareVersion changes when the preparation's steps change.
const prepareVersion = "1"

// Marker files of the prepared tree (not part of the tree).
const (
	completeMarker  = ".kpatch-complete"
	generatedList   = ".kpatch-generated"
	prepareLogName  = ".kpatch-prepare.log"
	prefixPrepared  = "prepared-"
	prefixTmpPrepar = "tmp-prepared-"
)

// sourceFiles lists the files of the user's tree a work copy takes: the
// tree-relative path with mode, size and modification time of each.
func sourceFiles(src string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == ".svn" {
				return filepath.SkipDir
			}
			return nil
		}
		if build.IsBuildOutput(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		files = append(files, fmt.Sprintf("%s\x00%v\x00%d\x00%d", rel, info.Mode(), info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	sort.Strings(files)
	return files, err
}

// TreeKey is the cache key of a prepared tree. The sources count by their
// paths, modes, sizes and modification times (what make itself trusts;
// hashing 1.4 GB of sources would cost more than the preparation saves),
// the configuration by its contents, the compiler by its version.
func TreeKey(o *PrepareOptions) (string, []string, error) {
	files, err := sourceFiles(o.SourceDir)
	if err != nil {
		return "", nil, fmt.Errorf("source tree %s: %w", o.SourceDir, err)
	}
	cfg, err := os.ReadFile(o.Config)
	if err != nil {
		return "", nil, fmt.Errorf("config: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "prepare %s\nrelease %s\ncc %s\nconfig %x\n", prepareVersion, o.Release, compilerVersion(o.CC), sha256.Sum256(cfg))
	for _, f := range files {
		fmt.Fprintf(h, "%s\n", f)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], files, nil
}

// compilerVersion is the compiler's path and first --version line.
func compilerVersion(cc string) string {
	path, err := exec.LookPath(cc)
	if err != nil {
		return cc
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return path
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return path + " " + line
}

// Prepare returns the prepared tree for o, from the cache or made now
// (published atomically: a killed run leaves only a temporary directory,
// which a later run removes when it is older than a day).
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
	if _, err := os.Stat(filepath.Join(o.SourceDir, "Makefile")); err != nil {
		return nil, fmt.Errorf("%s is not a kernel source tree: %w", o.SourceDir, err)
	}
	key, files, err := TreeKey(&o)
	if err != nil {
		return nil, err
	}
	t := &Tree{Dir: filepath.Join(o.CacheDir, prefixPrepared+key), Key: key, Release: o.Release, CC: o.CC}
	if _, err := os.Stat(filepath.Join(t.Dir, completeMarker)); err == nil {
		t.Cached = true
		logf("using the prepared tree %s", key)
		return t, t.loadGenerated()
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, err
	}
	removeStale(o.CacheDir, prefixTmpPrepar)
	tmp, err := os.MkdirTemp(o.CacheDir, prefixTmpPrepar)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Tree, error) {
		os.RemoveAll(tmp)
		return nil, err
	}
	logf("preparing the tree %s (olddefconfig, modules_prepare)", key)
	start := time.Now()
	if err := build.CopyTree(o.SourceDir, tmp); err != nil {
		return fail(fmt.Errorf("copy %s: %w", o.SourceDir, err))
	}
	cfg, err := os.ReadFile(o.Config)
	if err != nil {
		return fail(fmt.Errorf("config: %w", err))
	}
	// A new file: the copy's .config, if any, is a link to the user's.
	os.Remove(filepath.Join(tmp, ".config"))
	if err := os.WriteFile(filepath.Join(tmp, ".config"), cfg, 0o644); err != nil {
		return fail(err)
	}
	logFile, err := os.Create(filepath.Join(tmp, prepareLogName))
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	w := io.Writer(logFile)
	if o.BuildLog != nil {
		w = io.MultiWriter(logFile, o.BuildLog)
	}
	args := MakeArgs(tmp, o.Jobs, o.CC, o.Release)
	if err := build.Make(ctx, "make olddefconfig", append(args, "olddefconfig"), nil, w); err != nil {
		return fail(err)
	}
	newCfg, err := os.ReadFile(filepath.Join(tmp, ".config"))
	if err != nil {
		return fail(err)
	}
	if d := configDiff(cfg, newCfg); d != "" {
		logf("warning: make olddefconfig changed the configuration (is the source tree the running kernel's?): %s", d)
	}
	logf("olddefconfig done (%.1fs)", time.Since(start).Seconds())
	if err := build.Make(ctx, "make modules_prepare", append(args, "modules_prepare"), nil, w); err != nil {
		return fail(err)
	}
	// What the preparation wrote: every file that is not a link to the
	// user's tree.
	src := map[string]bool{}
	for _, f := range files {
		rel, _, _ := strings.Cut(f, "\x00")
		src[rel] = true
	}
	var gen bytes.Buffer
	err = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tmp, p)
		if !src[rel] {
			gen.WriteString(rel + "\n")
		}
		return nil
	})
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, generatedList), gen.Bytes(), 0o644)
	}
	if err != nil {
		return fail(err)
	}
	if err := build.Publish(tmp, t.Dir, completeMarker); err != nil {
		return nil, err
	}
	logf("prepared the tree in %.1fs", time.Since(start).Seconds())
	return t, t.loadGenerated()
}

// MakeArgs are the arguments of every make run in a tree: the running
// kernel's compiler and release, so nothing the kernel was built with
// differs.
func MakeArgs(dir string, jobs int, cc, release string) []string {
	return []string{"-C", dir, fmt.Sprintf("-j%d", jobs), "CC=" + cc, "HOSTCC=" + cc, "KERNELRELEASE=" + release}
}

func (t *Tree) loadGenerated() error {
	f, err := os.Open(filepath.Join(t.Dir, generatedList))
	if err != nil {
		return fmt.Errorf("prepared tree %s: %w", t.Dir, err)
	}
	defer f.Close()
	t.generated = map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		t.generated[sc.Text()] = true
	}
	return sc.Err()
}

// Clone makes dst a private copy of the prepared tree to build in: the
// user's sources as hard links (never written: patches replace files,
// kbuild writes only outputs), everything the preparation wrote as real
// copies (kbuild may rewrite those in place).
func (t *Tree) Clone(dst string) error {
	return build.LinkTree(t.Dir, dst, func(rel string, d fs.DirEntry) build.Action {
		switch {
		case d.IsDir():
			return build.Link
		case rel == completeMarker || rel == generatedList || rel == prepareLogName:
			return build.Skip
		case t.generated[rel] || build.IsBuildOutput(d.Name()):
			return build.Copy
		}
		return build.Link
	})
}

// configDiff describes the options whose values differ between two
// configurations (comments ignored), or "" when none do.
func configDiff(a, b []byte) string {
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

// removeStale removes temporary directories with the prefix that are
// older than a day: leftovers of killed runs (a running one is younger).
func removeStale(dir, prefix string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
