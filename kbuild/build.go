package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// FunctionSections are the compiler flags every build of kpatch-build adds.
const FunctionSections = "-ffunction-sections -fdata-sections"

// Options describe a build.
type Options struct {
	// SourceDir is the user's source tree; it is only read.
	SourceDir string
	// CacheDir holds the cached original builds and the work trees.
	CacheDir string
	// Patches are applied, in order, to the patched build.
	Patches []*patch.Patch
	// Jobs is make's -j.
	Jobs int
	// CC is the compiler (default gcc).
	CC string
	// Targets are the make targets (default: the tree's default goal).
	Targets []string
	// Env is extra environment for make.
	Env []string
	// Config, if set, is a kernel configuration written into the work
	// trees as .config (the user's tree keeps its own).
	Config string
	// Fuzz is the most context lines a hunk may have ignored (GNU
	// patch's --fuzz; patch.DefaultFuzz is its default); 0 applies exactly.
	Fuzz int
	// Log receives progress lines; BuildLog receives make's output.
	Log      func(format string, args ...any)
	BuildLog io.Writer
	// FailLog, if set, is where the output of a make that fails is
	// saved (the error names it).
	FailLog string
}

// Result is the outcome of a build.
type Result struct {
	// OrigDir is the cached original build (read only).
	OrigDir string
	// WorkDir is the patched build.
	WorkDir string
	// SavedDir holds the original of every object the patched build
	// recompiled, at the same relative path.
	SavedDir string
	// Changed lists the tree-relative paths of recompiled objects that
	// have an original; New those that did not exist before.
	Changed, New []string
	// Cached reports that the original build came from the cache.
	Cached bool
	// Fuzzed are the hunks the patches applied with fuzz.
	Fuzzed []patch.FuzzedHunk
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// wrapperScript is the compiler wrapper: it records each object the build
// compiles and, before the compiler overwrites it, moves the previous
// object aside so the original survives.
const wrapperScript = `#!/bin/sh
# kpatch-build compiler wrapper (generated).
out=
prev=
for a in "$@"; do
	if [ "$prev" = "-o" ]; then out=$a; fi
	prev=$a
done
case "$out" in
*.o)
	if [ -n "$KPATCH_RECORD" ]; then
		printf '%s\n' "$PWD/$out" >> "$KPATCH_RECORD"
		if [ -n "$KPATCH_SAVE" ] && [ -f "$out" ]; then
			rel=${PWD#"$KPATCH_TREE"}
			rel=${rel#/}
			dest="$KPATCH_SAVE/${rel:+$rel/}$out"
			mkdir -p "$(dirname "$dest")" && mv -f "$out" "$dest"
		fi
	fi
	;;
esac
exec $KPATCH_CC "$@"
`

// CacheKey identifies an original build: the tree's sources, the
// compiler, the flags and the targets.
func CacheKey(opts *Options) (string, error) {
	parts := cache.Parts{"cc": CompilerID(opts.CC), "flags": FunctionSections, "targets": fmt.Sprintf("%q", opts.Targets), "env": fmt.Sprintf("%q", opts.Env)}
	if opts.Config != "" {
		b, err := os.ReadFile(opts.Config)
		if err != nil {
			return "", fmt.Errorf("config: %w", err)
		}
		parts["config"] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(opts.SourceDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".svn") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && !worktree.IsBuildOutput(d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(opts.SourceDir, p)
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s %x\n", rel, sum)
	}
	parts["sources"] = fmt.Sprintf("%x", h.Sum(nil))
	return cache.Key(parts), nil
}

// CompilerID is the compiler's path and first --version line, for cache
// keys.
func CompilerID(cc string) string {
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

// Run builds the original tree (or takes it from the cache), applies the
// patches to a work copy, rebuilds it, and reports the changed objects.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.CC == "" {
		opts.CC = "gcc"
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 1
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, err
	}
	wdir, _, err := cache.Cached(opts.CacheDir, "cc-wrapper-"+cache.Key(cache.Parts{"script": wrapperScript}), func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "kpatch-cc"), []byte(wrapperScript), 0o755)
	})
	if err != nil {
		return nil, err
	}
	wrapper := filepath.Join(wdir, "kpatch-cc")
	key, err := CacheKey(&opts)
	if err != nil {
		return nil, fmt.Errorf("source tree %s: %w", opts.SourceDir, err)
	}
	res := &Result{}
	res.OrigDir, res.Cached, err = cache.Cached(opts.CacheDir, "orig-"+key, func(tmp string) error {
		opts.logf("building the original tree")
		if err := worktree.CopyTree(opts.SourceDir, tmp); err != nil {
			return fmt.Errorf("copy %s: %w", opts.SourceDir, err)
		}
		if opts.Config != "" {
			b, err := os.ReadFile(opts.Config)
			if err == nil {
				err = worktree.ReplaceFile(filepath.Join(tmp, ".config"), b, 0o644)
			}
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
		}
		if err := runMake(ctx, &opts, tmp, wrapper, nil); err != nil {
			return fmt.Errorf("original build: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Cached {
		opts.logf("using the cached original build (%s)", key)
	}

	work, err := cache.WorkDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	res.WorkDir = filepath.Join(work, "tree")
	res.SavedDir = filepath.Join(work, "orig")
	if err := cloneBuilt(res.OrigDir, res.WorkDir); err != nil {
		return res, fmt.Errorf("work copy: %w", err)
	}
	for _, p := range opts.Patches {
		opts.logf("applying %s", filepath.Base(p.Path))
		fuzzed, err := p.ApplyWith(res.WorkDir, patch.ApplyOptions{Fuzz: opts.Fuzz, Log: opts.logf})
		if err != nil {
			return res, err
		}
		res.Fuzzed = append(res.Fuzzed, fuzzed...)
	}
	record := filepath.Join(work, "changed-objects")
	opts.logf("building the patched tree")
	// Like kpatch-build: a module of the patched build may call a function
	// the patch adds to vmlinux (the patch module will provide it), so
	// modpost only warns about undefined symbols; the patch module's own
	// undefined symbols are checked after it is linked.
	env := []string{"KPATCH_RECORD=" + record, "KPATCH_SAVE=" + res.SavedDir, "KPATCH_TREE=" + res.WorkDir, "KBUILD_MODPOST_WARN=1"}
	if err := runMake(ctx, &opts, res.WorkDir, wrapper, env); err != nil {
		return res, refusal.New(refusal.PatchedBuild, err)
	}
	seen := map[string]bool{}
	f, err := os.Open(record)
	if err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			rel, err := filepath.Rel(res.WorkDir, filepath.Clean(sc.Text()))
			if err != nil || strings.HasPrefix(rel, "..") || seen[rel] {
				continue
			}
			seen[rel] = true
			if _, err := os.Stat(filepath.Join(res.SavedDir, rel)); err == nil {
				res.Changed = append(res.Changed, rel)
			} else {
				res.New = append(res.New, rel)
			}
		}
		f.Close()
	}
	sort.Strings(res.Changed)
	sort.Strings(res.New)
	return res, nil
}

// cloneBuilt copies a built tree: sources as hard links (they are never
// written: patches replace files), build outputs as real copies (the
// build writes them in place), modification times kept so make rebuilds
// only what a patch touches.
func cloneBuilt(src, dst string) error {
	return worktree.LinkTree(src, dst, func(rel string, d fs.DirEntry) worktree.Action {
		switch {
		case d.Name() == cache.Complete:
			return worktree.Skip
		case worktree.IsBuildOutput(d.Name()):
			return worktree.Copy
		}
		return worktree.Link
	})
}

func runMake(ctx context.Context, opts *Options, dir, wrapper string, env []string) error {
	args := []string{"-C", dir, fmt.Sprintf("-j%d", opts.Jobs), "CC=" + wrapper, "KCFLAGS=" + FunctionSections}
	args = append(args, opts.Targets...)
	env = append(append([]string{"KPATCH_CC=" + opts.CC}, opts.Env...), env...)
	return Make(ctx, strings.TrimSpace("make "+strings.Join(opts.Targets, " ")), args, env, opts.BuildLog, nil, opts.FailLog)
}

// Make runs make with args, the environment plus env, its output copied
// to log (when not nil); make and the commands it runs inherit files
// (e.g. a lock, so it stays held until the last of them exits, even when
// the caller is killed). The messages are the C locale's (LC_ALL=C, and
// LANG, LC_CTYPE and LC_MESSAGES too: kbuild unexports LC_ALL), so that a
// compiler error reads "error:" whatever the user's language. A
// failure is a *MakeError: the first compiler error of make's output
// with its file and line, then what; the whole output is saved to
// logFile when it is not "".
func Make(ctx context.Context, what string, args, env []string, log io.Writer, files []*os.File, logFile string) error {
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Env = append(append(os.Environ(), env...), "LC_ALL=C", "LANG=C", "LC_CTYPE=C", "LC_MESSAGES=C")
	cmd.ExtraFiles = files
	var out bytes.Buffer
	w := io.Writer(&out)
	if log != nil {
		w = io.MultiWriter(&out, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return NewMakeError(what, out.Bytes(), err, logFile)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
